import { isIP } from 'node:net';
import { type Config, loadConfig } from '../../src/config.js';
import type { LookupAll } from '../../src/services/webhook-address-guard.js';

/**
 * The name service of every test app: names map to addresses of each class, and nothing else
 * resolves. No test asks the real DNS, so no test's webhook can reach a real host by name.
 */
export const TEST_HOSTS: Readonly<Record<string, string[]>> = {
  'receiver.test': ['127.0.0.1'],
  'public.test': ['93.184.216.34'],
  'public6.test': ['2606:2800:220:1:248:1893:25c8:1946'],
  'private10.test': ['10.1.2.3'],
  'private172.test': ['172.16.5.4'],
  'private192.test': ['192.168.1.10'],
  'loopback.test': ['127.0.0.1'],
  'loopback6.test': ['::1'],
  'linklocal.test': ['169.254.10.20'],
  'linklocal6.test': ['fe80::1'],
  'metadata.test': ['169.254.169.254'],
  'metadata6.test': ['fd00:ec2::254'],
  'uniquelocal.test': ['fd12:3456::1'],
  'mapped.test': ['::ffff:10.0.0.1'],
  'cgnat.test': ['100.64.0.1'],
  'unspecified.test': ['0.0.0.0'],
  'mixed.test': ['93.184.216.34', '10.0.0.1'],
};

/** Resolves TEST_HOSTS (and `localhost`); any other name fails as the real resolver would. */
export const testLookup: LookupAll = async (hostname) => {
  const addresses = hostname === 'localhost' ? ['127.0.0.1'] : TEST_HOSTS[hostname.toLowerCase()];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: isIP(address) === 6 ? (6 as const) : (4 as const) }));
};

/** Every address a test app's webhook sender was about to connect to that is not loopback. */
export const trippedAddresses: string[] = [];

/**
 * The last line of defence of every test: a delivery may only connect to 127.0.0.0/8 or ::1,
 * whatever the checks under test decided. A refused connection is recorded, and no packet leaves.
 */
export function loopbackTripwire(address: string): void {
  const loopback = address === '::1' || /^127\./.test(address) || /^::ffff:127\./i.test(address);
  if (!loopback) {
    trippedAddresses.push(address);
    throw new Error(`test tripwire: ${address} is not a loopback address`);
  }
}

const DEFAULTS = loadConfig({ DATABASE_URL: 'sqlite::memory:' }).webhooks;

/**
 * Webhooks as tests run them: http and loopback receivers allowed (ARBOR_WEBHOOK_ALLOW_INSECURE),
 * and no dispatcher unless a test turns it on (`dispatch: true`), so that no other test's store
 * changes behind its back. Fast retries for delivery tests.
 */
export function testWebhooks(overrides: Partial<Config['webhooks']> = {}): Config['webhooks'] {
  return { ...DEFAULTS, allowInsecure: true, dispatch: false, pollMs: 50, ...overrides };
}
