import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppError } from '../errors.js';

const SECRET_PREFIX = 'whsec_';

/** A new signing secret as Standard Webhooks spells it: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` under each
 * secret, space-separated (Standard Webhooks 1.0; a receiver accepts any one that verifies).
 */
export function signatureHeader(secrets: readonly string[], messageId: string, timestampSeconds: number, body: string): string {
  const content = `${messageId}.${timestampSeconds}.${body}`;
  return secrets
    .map((secret) => `v1,${createHmac('sha256', Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')).update(content).digest('base64')}`)
    .join(' ');
}

/** Seals and opens stored secrets with AES-256-GCM; what is stored names the key that sealed it. */
export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
}

export const secretsKeyMissing = () =>
  new AppError(
    503,
    'webhook.secrets_key_missing',
    'Webhook secrets are stored encrypted, and this server has no key to encrypt them with: the operator must set ARBOR_SECRETS_KEY (32 random bytes, e.g. `openssl rand -base64 32`) on every instance. See docs/webhooks.md.',
  );

/**
 * The box for `key`. Sealed text is `v1.<key id>.<iv>.<tag>.<ciphertext>` (base64url), the key
 * id being the first 8 bytes of the key's SHA-256: a secret sealed under another key fails with
 * a message that says so, not with garbage.
 */
export function createSecretBox(key: Buffer): SecretBox {
  const keyId = createHash('sha256').update(key).digest().subarray(0, 8).toString('base64url');
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', keyId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
    },
    open(sealed) {
      const [version, sealedKeyId, iv, tag, data] = sealed.split('.');
      if (version !== 'v1' || sealedKeyId !== keyId) {
        throw new Error(`a webhook secret was sealed under another ARBOR_SECRETS_KEY (key id ${sealedKeyId}, this server's is ${keyId})`);
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}

/**
 * The key when ARBOR_SECRETS_KEY is not set, so that `npm start` works on a fresh machine: on a
 * SQLite file, a key generated once into `<database file>.key` (mode 0600; keep it with the
 * database's backups, apart from them if they leave the machine); in memory, one for the process.
 * On PostgreSQL there is none (null): several instances need the same key, which only the
 * operator can give them, and webhook creation says so.
 */
export function fallbackSecretsKey(sqliteFile: string | null): { key: Buffer; createdFile: string | null } | null {
  if (sqliteFile === null) return null;
  if (sqliteFile === ':memory:') return { key: randomBytes(32), createdFile: null };
  const path = `${sqliteFile}.key`;
  let createdFile: string | null = null;
  if (!existsSync(path)) {
    // Written whole under another name, then linked into place: of several instances starting
    // together on a new store, one key wins and none reads a half-written file.
    mkdirSync(dirname(path), { recursive: true });
    const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(draft, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    try {
      linkSync(draft, path);
      createdFile = path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
  }
  chmodSync(path, 0o600);
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${path} does not hold a 32-byte base64 key; restore it from a backup, or set ARBOR_SECRETS_KEY`);
  return { key, createdFile };
}
