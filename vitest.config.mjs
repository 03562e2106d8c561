import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native work is heavy and the machine has 2 cores: run files one at a time so timings and memory stay sane.
    fileParallelism: false,
    reporters: ['default'],
  },
});
