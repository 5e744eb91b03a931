import { type Config, ConfigError, loadConfig } from '../config.js';
import { type Store, openStore } from '../db/store.js';
import { migrateToLatest } from '../db/migrator.js';

/** Config plus a migrated store, for command-line tools; exits with a clear message on bad config. */
export async function openMigratedStore(): Promise<{ config: Config; store: Store; applied: string[] }> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`Configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const store = openStore(config.databaseUrl);
  const { applied } = await migrateToLatest(store.db);
  return { config, store, applied };
}

/** Runs a CLI entry point: prints an error without a stack for expected failures, exits non-zero. */
export function runCli(main: () => Promise<number | void>): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
