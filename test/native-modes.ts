/**
 * The native modes a test file runs through (every ISA this CPU supports × 1
 * and 2 threads), and restoring the addon's ISA and thread count once the
 * file's tests are done, so later files see the defaults.
 */
import { afterAll } from 'vitest';
import type { NativeAddon, NativeIsa } from '../lib/native';

export interface NativeMode {
  name: string;
  isa: NativeIsa;
  threads: number;
  /** Switches the addon to this mode. */
  select: () => void;
}

/** Registers an afterAll that puts back the addon's current ISA and threads. */
export function restoreNativeModeAfterAll(addon: NativeAddon | null): void {
  if (addon === null) return;
  const initial = addon.info();
  afterAll(() => {
    addon.setIsa(initial.isa);
    addon.setThreads(initial.threads);
  });
}

/** Every supported ISA × {1, 2} threads; restores the initial mode after the file. */
export function nativeModes(addon: NativeAddon | null): NativeMode[] {
  if (addon === null) return [];
  restoreNativeModeAfterAll(addon);
  const modes: NativeMode[] = [];
  for (const isa of addon.info().supportedIsas) {
    for (const threads of [1, 2]) {
      modes.push({
        name: `native ${isa}, ${threads} thread(s)`,
        isa,
        threads,
        select: () => {
          addon.setIsa(isa);
          addon.setThreads(threads);
        },
      });
    }
  }
  return modes;
}
