// A list of named checks for the plain-JS harnesses that run outside vitest (the browser
// page test/browser/checks.mjs, the runtime smoke test test/runtimes/smoke.mjs): each
// check is a function that throws on failure and may return a note for its report line.
import { relFrobenius } from './attention.mjs';

export function checkList() {
  const checks = [];
  const check = (name, run) => checks.push({ name, run });
  return { checks, check };
}

/** The relative Frobenius error of `actual` against `expected`; throws when it is above `tolerance`. */
export function expectClose(what, actual, expected, tolerance) {
  const error = relFrobenius(actual, expected);
  if (!(error <= tolerance)) throw new Error(`${what}: relative error ${error} > ${tolerance}`);
  return error;
}
