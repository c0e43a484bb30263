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
  await nextTask();
  signal?.throwIfAborted();
}

/**
 * Resolves in a later task: setImmediate where the runtime has one (Node, Bun,
 * Deno; looked up per call so fake timers see it), else a message to a fresh
 * channel (browsers: unlike setTimeout(0), it is not clamped to 4 ms when nested).
 */
function nextTask(): Promise<void> {
  const setImmediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  if (setImmediate !== undefined) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    // The DOM's MessageChannel (Node's typings have no onmessage; Node never gets here).
    const channel = new MessageChannel() as unknown as { port1: { onmessage: (() => void) | null; close(): void }; port2: { postMessage(message: null): void } };
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** Starts a native async call with a fresh cancel flag and waits for it, racing `signal` when there is one. */
export function runNative(start: (cancelFlag: Int32Array) => Promise<void>, signal: AbortSignal | null): Promise<void> {
  const flag = new Int32Array(1);
  const run = start(flag);
  return signal ? raceAbort(run, signal, flag) : run;
}
