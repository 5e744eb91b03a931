import { createTokenService } from '../services/token-service.js';
import { openMigratedStore, runCli } from './open-store.js';

// npm run keys:rotate: a new key signs from now on (every instance picks it up within a
// minute); tokens signed by the previous key keep verifying until they expire.
runCli(async () => {
  const { config, store } = await openMigratedStore();
  try {
    const tokens = createTokenService({ store, issuer: config.issuer, audience: config.audience, ttlSeconds: config.tokenTtlSeconds });
    const kid = await tokens.rotate();
    const { keys } = await tokens.jwks();
    console.log(`New signing key ${kid}. Published keys: ${keys.map((k) => k.kid).join(', ')}.`);
  } finally {
    await store.close();
  }
});
