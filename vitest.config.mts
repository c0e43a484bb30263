import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Large native and fallback cases can take a while on slow CI machines.
    testTimeout: 60_000,
  },
});
