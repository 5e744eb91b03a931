import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // better-sqlite3 is a native addon: separate processes are the safe isolation.
    pool: 'forks',
    testTimeout: 20_000,
  },
});
