/**
 * Async plumbing shared by every *Async entry point: the `signal` option,
 * racing a native call against it, and the one yield before a JS kernel runs.
 */
import { describe, invalidArgument } from './validate';

/** An async call's `signal` option: an AbortSignal, or null when absent. */
export function checkSignal(value: unknown, op: string): AbortSignal | null {
  if (value === undefined) return null;
  if (!(value instanceof AbortSignal)) throw invalidArgument(TypeError, 'signal to be an AbortSignal', describe(value), op);
  return value;
}

/** Waits for a native call, rejecting as soon as `signal` aborts (and telling the kernel to stop through `flag`). */
export function raceAbort(run: Promise<void>, signal: AbortSignal, flag: Int32Array): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      Atomics.store(flag, 0, 1);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    run.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted ? signal.reason : err);
      },
    );
  });
}

/**
 * Yields to the event loop once, then throws if `signal` aborted meanwhile:
 * a JS kernel run by an async call never starts before that call returns.
 */
export async function yieldThenCheck(signal: AbortSignal | null): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  signal?.throwIfAborted();
}

/** Starts a native async call with a fresh cancel flag and waits for it, racing `signal` when there is one. */
export function runNative(start: (cancelFlag: Int32Array) => Promise<void>, signal: AbortSignal | null): Promise<void> {
  const flag = new Int32Array(1);
  const run = start(flag);
  return signal ? raceAbort(run, signal, flag) : run;
}
