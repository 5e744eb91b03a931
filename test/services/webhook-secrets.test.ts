import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { WebhookRow } from '../../src/db/repositories/webhook-repository.js';
import { secretsOf } from '../../src/services/webhook-rules.js';
import { createSecretBox, fallbackSecretsKey, generateWebhookSecret, signatureHeader } from '../../src/services/webhook-secrets.js';

describe('webhook secrets', () => {
  it('generates whsec_ secrets of 32 random bytes, never the same twice', () => {
    const secrets = new Set(Array.from({ length: 50 }, generateWebhookSecret));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
  });

  it('signs as the standardwebhooks reference implementation does, one v1 signature per secret', () => {
    const [first, second] = [generateWebhookSecret(), generateWebhookSecret()];
    const body = JSON.stringify({ type: 'ou.created', data: { name: 'Zürich ✓' } });
    const at = new Date();
    const seconds = Math.floor(at.getTime() / 1000);
    const header = signatureHeader([first, second], 'evt_1', seconds, body);
    expect(header.split(' ')).toEqual([new Webhook(first).sign('evt_1', at, body), new Webhook(second).sign('evt_1', at, body)]);
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(seconds), 'webhook-signature': header };
    expect(new Webhook(second).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
  });

  it('seals a secret so that the stored text holds nothing of it, and opens it only with the same key', () => {
    const key = Buffer.alloc(32, 7);
    const secret = generateWebhookSecret();
    const sealed = createSecretBox(key).seal(secret);
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain(secret.slice(6, 20));
    expect(createSecretBox(key).seal(secret)).not.toBe(sealed);
    expect(createSecretBox(Buffer.from(key)).open(sealed)).toBe(secret);
    expect(() => createSecretBox(Buffer.alloc(32, 8)).open(sealed)).toThrow(/another ARBOR_SECRETS_KEY/);
    // Tampering is detected (GCM), not decrypted into garbage.
    const parts = sealed.split('.');
    parts[4] = Buffer.from('x'.repeat(Buffer.from(parts[4], 'base64url').length)).toString('base64url');
    expect(() => createSecretBox(key).open(parts.join('.'))).toThrow();
  });

  it('signs with the previous secret during the overlap, and leaves out one the key cannot open instead of failing', () => {
    const box = createSecretBox(Buffer.alloc(32, 1));
    const [current, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const row = { secret: box.seal(current), previous_secret: box.seal(previous), previous_secret_expires_at: new Date(Date.now() + 60_000).toISOString() } as WebhookRow;
    expect(secretsOf(row, box, Date.now())).toEqual([current, previous]);
    expect(secretsOf(row, box, Date.now() + 120_000)).toEqual([current]);
    const sealedElsewhere = { ...row, previous_secret: createSecretBox(Buffer.alloc(32, 2)).seal(previous) };
    expect(secretsOf(sealedElsewhere, box, Date.now())).toEqual([current]);
  });

  it('without ARBOR_SECRETS_KEY, keeps a key file beside a SQLite database (mode 0600) and reuses it; none on PostgreSQL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-key-'));
    try {
      const file = join(dir, 'sub', 'arbor.sqlite');
      const first = fallbackSecretsKey(file);
      expect(first?.createdFile).toBe(`${file}.key`);
      expect(statSync(`${file}.key`).mode & 0o777).toBe(0o600);
      const again = fallbackSecretsKey(file);
      expect(again?.createdFile).toBeNull();
      expect(again?.key.equals(first?.key as Buffer)).toBe(true);
      expect(Buffer.from(readFileSync(`${file}.key`, 'utf8'), 'base64')).toHaveLength(32);
      expect(fallbackSecretsKey(':memory:')?.key).toHaveLength(32);
      expect(fallbackSecretsKey(null)).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('webhook settings', () => {
  const load = (env: Record<string, string>) => loadConfig({ DATABASE_URL: 'sqlite::memory:', ...env });

  it('defaults to the schedule of the issue: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    const { webhooks } = load({});
    expect(webhooks.retryScheduleMs).toEqual([0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(webhooks).toMatchObject({ timeoutMs: 15_000, disableAfterMs: 5 * 86_400_000, dispatch: true, allowInsecure: false, allowHosts: [] });
  });

  it('reads a schedule in ms, s, m, h and d, and refuses one it cannot read, saying how to write it', () => {
    expect(load({ ARBOR_WEBHOOK_RETRY_SCHEDULE: '0, 250ms,2s,1m,1h,1d,7' }).webhooks.retryScheduleMs).toEqual([0, 250, 2000, 60_000, 3_600_000, 86_400_000, 7]);
    expect(() => load({ ARBOR_WEBHOOK_RETRY_SCHEDULE: '0,5 minutes' })).toThrow(ConfigError);
    expect(() => load({ ARBOR_WEBHOOK_RETRY_SCHEDULE: '0,-5s' })).toThrow(/0,5s,5m,30m,2h/);
    // The first attempt is made as soon as the event commits.
    expect(() => load({ ARBOR_WEBHOOK_RETRY_SCHEDULE: '5s,5m' })).toThrow(/must start with 0/);
    // A delay too long to be a date is refused at start, not when a retry is scheduled.
    expect(() => load({ ARBOR_WEBHOOK_RETRY_SCHEDULE: '0,999999999d' })).toThrow(/at most 7d/);
  });

  it('refuses a lease that could run out during a delivery', () => {
    expect(() => load({ ARBOR_WEBHOOK_LEASE_SECONDS: '10', ARBOR_WEBHOOK_TIMEOUT_MS: '15000' })).toThrow(/must be longer than ARBOR_WEBHOOK_TIMEOUT_MS/);
    expect(load({ ARBOR_WEBHOOK_LEASE_SECONDS: '2', ARBOR_WEBHOOK_TIMEOUT_MS: '1000' }).webhooks.leaseMs).toBe(2000);
  });

  it('takes ARBOR_SECRETS_KEY as 64 hex digits or base64 of 32 bytes, and nothing shorter', () => {
    const key = Buffer.alloc(32, 3);
    expect(load({ ARBOR_SECRETS_KEY: key.toString('hex') }).secretsKey?.equals(key)).toBe(true);
    expect(load({ ARBOR_SECRETS_KEY: key.toString('base64') }).secretsKey?.equals(key)).toBe(true);
    expect(() => load({ ARBOR_SECRETS_KEY: Buffer.alloc(16).toString('base64') })).toThrow(/32 random bytes/);
  });

  it('compares ARBOR_WEBHOOK_ALLOW_HOSTS without case, as a list of exact hosts', () => {
    expect(load({ ARBOR_WEBHOOK_ALLOW_HOSTS: 'Hooks.Internal, receiver.corp. ,' }).webhooks.allowHosts).toEqual(['hooks.internal', 'receiver.corp']);
  });
});
