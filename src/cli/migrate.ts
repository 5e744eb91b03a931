import { openMigratedStore, runCli } from './open-store.js';

// npm run migrate: brings the store's schema up to date (the server also does this at start).
runCli(async () => {
  const { store, applied } = await openMigratedStore();
  console.log(applied.length ? `Applied: ${applied.join(', ')} (${store.description})` : `Schema already up to date (${store.description})`);
  await store.close();
});
