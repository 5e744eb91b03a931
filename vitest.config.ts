import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // better-sqlite3 is a native addon: separate processes are the safe isolation.
    pool: 'forks',
    testTimeout: 20_000,
    // Hooks create and migrate stores and stop server processes (up to 15 s each): more than
    // vitest's 10-s default on a busy 2-core runner.
    hookTimeout: 30_000,
  },
});
