import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import {
  type AddressClass,
  type LookupAll,
  type WebhookTargetPolicy,
  WebhookTargetError,
  forbiddenAddressClass,
  parseWebhookUrl,
  resolveWebhookTarget,
} from '../../src/services/webhook-address-guard.js';

// No real DNS and no sockets: every name resolves through this table.
const ZONE: Record<string, string[]> = {
  'public.test': ['93.184.216.34'],
  'public6.test': ['2606:2800:220:1::'],
  'dual.test': ['2606:2800:220:1::', '93.184.216.34'],
  'private.test': ['10.1.2.3'],
  'private172.test': ['172.16.5.4'],
  'private192.test': ['192.168.0.10'],
  'metadata.test': ['169.254.169.254'],
  'linklocal.test': ['169.254.10.1'],
  'loopback.test': ['127.0.0.1'],
  'cgnat.test': ['100.64.0.1'],
  'alibaba.test': ['100.100.100.200'],
  'oracle.test': ['192.0.0.192'],
  'mixed.test': ['93.184.216.34', '10.0.0.1'],
  'mixed6.test': ['2606:2800:220:1::', 'fe80::1'],
  'v6ula.test': ['fd12::1'],
  'v6metadata.test': ['fd00:ec2::254'],
  'v6loopback.test': ['::1'],
  'v6multicast.test': ['ff02::1'],
  'mapped.test': ['::ffff:192.168.1.1'],
  'mappedhex.test': ['::ffff:a00:1'],
  'nat64.test': ['64:ff9b::a9fe:a9fe'],
  'localhost': ['127.0.0.1', '::1'],
  'api.localhost': ['127.0.0.1'],
  'internal.test': ['10.0.0.5'],
  'evil.internal.test': ['10.0.0.6'],
  'empty.test': [],
};

const lookedUp: string[] = [];
const stubLookup: LookupAll = async (hostname) => {
  lookedUp.push(hostname);
  if (hostname === 'flaky.test') throw Object.assign(new Error('getaddrinfo EAI_AGAIN flaky.test'), { code: 'EAI_AGAIN' });
  const addresses = ZONE[hostname.replace(/\.$/, '')];
  if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: isIP(address) === 6 ? 6 : 4 }));
};

const strict: WebhookTargetPolicy = { allowInsecure: false, allowHosts: [], lookup: stubLookup };
const insecure: WebhookTargetPolicy = { ...strict, allowInsecure: true };

const resolve = (url: string, policy: WebhookTargetPolicy = strict) => resolveWebhookTarget(new URL(url), policy);

/** The WebhookTargetError a call throws (sync or async), to assert on its fields. */
async function refusal(call: () => unknown): Promise<WebhookTargetError> {
  try {
    await call();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookTargetError);
    return error as WebhookTargetError;
  }
  throw new Error('expected a WebhookTargetError, but the call succeeded');
}

describe('forbiddenAddressClass', () => {
  it.each<[string, AddressClass]>([
    ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'], ['127.255.255.254', 'loopback'],
    ['169.254.1.1', 'link-local'], ['169.254.169.254', 'metadata'],
    ['100.64.0.1', 'shared'], ['100.127.255.255', 'shared'], ['100.100.100.200', 'metadata'],
    ['192.0.0.1', 'reserved'], ['192.0.0.192', 'metadata'],
    ['192.0.2.1', 'documentation'], ['198.51.100.7', 'documentation'], ['203.0.113.9', 'documentation'],
    ['198.18.0.1', 'benchmarking'], ['198.19.255.255', 'benchmarking'],
    ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'], ['255.255.255.254', 'reserved'], ['255.255.255.255', 'broadcast'],
  ])('classifies the IPv4 address %s as %s', (address, expected) => {
    expect(forbiddenAddressClass(address)).toBe(expected);
  });

  it.each<[string, AddressClass]>([
    ['::', 'unspecified'], ['::1', 'loopback'],
    ['fe80::1', 'link-local'], ['febf:ffff::1', 'link-local'], ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'], ['fd12:3456::1', 'unique-local'], ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'], ['ff0e::1', 'multicast'],
    ['2001:db8::1', 'documentation'], ['3fff::1', 'documentation'],
    ['100::1', 'discard'], ['2001::1', 'reserved'], ['2001:1ff::1', 'reserved'], ['2001:2::1', 'benchmarking'],
    ['fec0::1', 'site-local'],
    ['::a00:1', 'reserved'], ['::8.8.8.8', 'reserved'], // deprecated IPv4-compatible form
    ['4000::1', 'reserved'], ['::ffff:0:a00:1', 'reserved'], // outside global unicast 2000::/3
    ['64:ff9b:1::1', 'reserved'], // local-use NAT64
  ])('classifies the IPv6 address %s as %s', (address, expected) => {
    expect(forbiddenAddressClass(address)).toBe(expected);
  });

  it.each<[string, AddressClass]>([
    ['::ffff:10.0.0.1', 'private'], ['::ffff:a00:1', 'private'], ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'], ['::ffff:169.254.169.254', 'metadata'], ['0:0:0:0:0:ffff:c0a8:101', 'private'],
    ['::ffff:0.0.0.0', 'unspecified'], ['::ffff:255.255.255.255', 'broadcast'],
  ])('classifies the IPv4-mapped IPv6 address %s as the IPv4 address it maps (%s)', (address, expected) => {
    expect(forbiddenAddressClass(address)).toBe(expected);
  });

  it.each<[string, AddressClass]>([
    ['64:ff9b::10.0.0.1', 'private'], ['64:ff9b::a9fe:a9fe', 'metadata'], ['64:ff9b::7f00:1', 'loopback'],
    ['2002:a00:1::1', 'private'], ['2002:a9fe:a9fe::', 'metadata'], // 6to4 embeds its IPv4 too
  ])('classifies the translated IPv6 address %s as the IPv4 address it reaches (%s)', (address, expected) => {
    expect(forbiddenAddressClass(address)).toBe(expected);
  });

  it.each([
    '93.184.216.34', '8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0',
    '169.253.255.255', '198.17.255.255', '198.20.0.0', '223.255.255.255', '11.0.0.0',
    '2606:2800:220:1::', '2a00:1450:4001:81b::200e', '::ffff:93.184.216.34', '64:ff9b::5db8:d822', '2002:5db8:d822::1',
  ])('allows the public unicast address %s', (address) => {
    expect(forbiddenAddressClass(address)).toBeNull();
  });

  it('refuses a string that is not an IP address at all (fails closed)', () => {
    expect(forbiddenAddressClass('example.com')).toBe('invalid');
    expect(forbiddenAddressClass('')).toBe('invalid');
    expect(forbiddenAddressClass('10.0.0.1.')).toBe('invalid');
  });
});

describe('parseWebhookUrl', () => {
  it('returns the parsed URL of an absolute https URL', () => {
    const url = parseWebhookUrl('https://Hooks.Example.com:8443/arbor?x=1', strict);
    expect(url.hostname).toBe('hooks.example.com');
    expect(url.port).toBe('8443');
    expect(url.pathname).toBe('/arbor');
  });

  it('requires https unless allowInsecure, and then permits http', async () => {
    const error = await refusal(() => parseWebhookUrl('http://hooks.example.com/', strict));
    expect(error).toBeInstanceOf(AppError);
    expect(error.status).toBe(422);
    expect(error.code).toBe('webhook.url_insecure');
    expect(error.message).toContain('https://');
    expect(parseWebhookUrl('http://hooks.example.com/', insecure).protocol).toBe('http:');
  });

  it.each(['ftp://example.com/', 'file:///etc/passwd', 'javascript:alert(1)', 'gopher://example.com/', 'ws://example.com/'])(
    'refuses the non-http(s) URL %s even with allowInsecure',
    async (url) => {
      expect((await refusal(() => parseWebhookUrl(url, insecure))).code).toBe('webhook.url_invalid');
    },
  );

  it.each(['', 'not a url', '/relative/path', 'example.com/hook', 'https://', 'https://exa mple.com/'])(
    'refuses the string %j that is not an absolute URL',
    async (url) => {
      expect((await refusal(() => parseWebhookUrl(url, strict))).code).toBe('webhook.url_invalid');
    },
  );

  it('refuses userinfo and never echoes the credentials in the detail', async () => {
    for (const url of ['https://user:s3cret@example.com/', 'https://user@example.com/', 'https://:s3cret@example.com/']) {
      const error = await refusal(() => parseWebhookUrl(url, strict));
      expect(error.code).toBe('webhook.url_invalid');
      expect(error.reason).toBe('userinfo');
      expect(error.message).not.toContain('s3cret');
    }
  });

  it('refuses a fragment', async () => {
    expect((await refusal(() => parseWebhookUrl('https://example.com/hook#part', strict))).reason).toBe('fragment');
  });

  it('accepts 2048 characters and refuses 2049', async () => {
    const base = 'https://example.com/';
    expect(parseWebhookUrl(base + 'a'.repeat(2048 - base.length), strict).hostname).toBe('example.com');
    expect((await refusal(() => parseWebhookUrl(base + 'a'.repeat(2049 - base.length), strict))).reason).toBe('url too long');
  });

  it('accepts ports 1-65535 and refuses 0 and 65536', async () => {
    expect(parseWebhookUrl('https://example.com:1/', strict).port).toBe('1');
    expect(parseWebhookUrl('https://example.com:65535/', strict).port).toBe('65535');
    expect((await refusal(() => parseWebhookUrl('https://example.com:0/', strict))).code).toBe('webhook.url_invalid');
    expect((await refusal(() => parseWebhookUrl('https://example.com:65536/', strict))).code).toBe('webhook.url_invalid');
  });
});

describe('resolveWebhookTarget', () => {
  it('returns the public IPv4 address a host resolves to', async () => {
    await expect(resolve('https://public.test/hook')).resolves.toEqual({ address: '93.184.216.34', family: 4 });
  });

  it('returns the public IPv6 address a host resolves to', async () => {
    await expect(resolve('https://public6.test/hook')).resolves.toEqual({ address: '2606:2800:220:1::', family: 6 });
  });

  it('returns the first address of a host with several public addresses', async () => {
    await expect(resolve('https://dual.test/')).resolves.toEqual({ address: '2606:2800:220:1::', family: 6 });
  });

  it('refuses a host that resolves to a private IPv4 address, saying what to do', async () => {
    const error = await refusal(() => resolve('https://private.test/hook'));
    expect(error.status).toBe(422);
    expect(error.code).toBe('webhook.url_forbidden');
    expect(error.reason).toBe('private address 10.1.2.3');
    expect(error.message).toContain("'private.test' resolves to 10.1.2.3, a private address");
    expect(error.message).toContain('ARBOR_WEBHOOK_ALLOW_HOSTS=private.test');
  });

  it.each([
    ['private172.test', 'private address 172.16.5.4'],
    ['private192.test', 'private address 192.168.0.10'],
    ['metadata.test', 'metadata address 169.254.169.254'],
    ['linklocal.test', 'link-local address 169.254.10.1'],
    ['loopback.test', 'loopback address 127.0.0.1'],
    ['cgnat.test', 'shared address 100.64.0.1'],
    ['alibaba.test', 'metadata address 100.100.100.200'],
    ['oracle.test', 'metadata address 192.0.0.192'],
    ['v6ula.test', 'unique-local address fd12::1'],
    ['v6metadata.test', 'metadata address fd00:ec2::254'],
    ['v6loopback.test', 'loopback address ::1'],
    ['v6multicast.test', 'multicast address ff02::1'],
    ['mapped.test', 'private address ::ffff:192.168.1.1'],
    ['mappedhex.test', 'private address ::ffff:a00:1'],
    ['nat64.test', 'metadata address 64:ff9b::a9fe:a9fe'],
  ])('refuses the host %s that resolves to a forbidden address (%s)', async (host, reason) => {
    const error = await refusal(() => resolve(`https://${host}/`));
    expect(error.code).toBe('webhook.url_forbidden');
    expect(error.reason).toBe(reason);
  });

  it('refuses a host with one public and one forbidden address, whichever comes first', async () => {
    expect((await refusal(() => resolve('https://mixed.test/'))).reason).toBe('private address 10.0.0.1');
    expect((await refusal(() => resolve('https://mixed6.test/'))).reason).toBe('link-local address fe80::1');
  });

  it.each([
    ['https://2130706433/', 'loopback'],
    ['https://0x7f.1/', 'loopback'],
    ['https://0177.0.0.1/', 'loopback'],
    ['https://127.1/', 'loopback'],
    ['https://167772161/', 'private'],
    ['https://0xa9fea9fe/', 'metadata'],
    ['https://0/', 'unspecified'],
  ])('refuses the IPv4 literal in another notation %s, which the URL parser normalises (%s)', async (url, addressClass) => {
    lookedUp.length = 0;
    const error = await refusal(() => resolve(url));
    expect(error.code).toBe('webhook.url_forbidden');
    expect(error.reason.startsWith(`${addressClass} address `)).toBe(true);
    expect(lookedUp).toEqual([]);
  });

  it.each([
    ['https://[::1]/', 'loopback address ::1'],
    ['https://[fd00:ec2::254]/', 'metadata address fd00:ec2::254'],
    ['https://[fe80::1]/', 'link-local address fe80::1'],
    ['https://[::ffff:169.254.169.254]/', 'metadata address ::ffff:a9fe:a9fe'],
    ['https://[::ffff:10.0.0.1]/', 'private address ::ffff:a00:1'],
    ['https://[64:ff9b::10.0.0.1]/', 'private address 64:ff9b::a00:1'],
    ['https://[::]/', 'unspecified address ::'],
  ])('refuses the bracketed IPv6 literal %s without a lookup', async (url, reason) => {
    lookedUp.length = 0;
    expect((await refusal(() => resolve(url))).reason).toBe(reason);
    expect(lookedUp).toEqual([]);
  });

  it('uses a public IP literal as is, without a lookup', async () => {
    lookedUp.length = 0;
    await expect(resolve('https://[2606:2800:220:1::]:8443/')).resolves.toEqual({ address: '2606:2800:220:1::', family: 6 });
    await expect(resolve('https://93.184.216.34/')).resolves.toEqual({ address: '93.184.216.34', family: 4 });
    expect(lookedUp).toEqual([]);
  });

  it('refuses localhost and *.localhost names without asking DNS', async () => {
    lookedUp.length = 0;
    for (const url of ['https://localhost/', 'https://LOCALHOST./', 'https://api.localhost:8080/', 'https://a.b.localhost/']) {
      const error = await refusal(() => resolve(url));
      expect(error.code).toBe('webhook.url_forbidden');
      expect(error.message).toContain('ARBOR_WEBHOOK_ALLOW_INSECURE');
    }
    expect(lookedUp).toEqual([]);
  });

  it('with allowInsecure permits http and loopback addresses', async () => {
    await expect(resolve('http://localhost:3000/hook', insecure)).resolves.toEqual({ address: '127.0.0.1', family: 4 });
    await expect(resolve('http://api.localhost/', insecure)).resolves.toEqual({ address: '127.0.0.1', family: 4 });
    await expect(resolve('http://127.0.0.1:8080/', insecure)).resolves.toEqual({ address: '127.0.0.1', family: 4 });
    await expect(resolve('http://[::1]/', insecure)).resolves.toEqual({ address: '::1', family: 6 });
    await expect(resolve('http://v6loopback.test/', insecure)).resolves.toEqual({ address: '::1', family: 6 });
    await expect(resolve('http://public.test/', insecure)).resolves.toEqual({ address: '93.184.216.34', family: 4 });
  });

  it('with allowInsecure still refuses private, metadata and mapped-private addresses', async () => {
    for (const url of ['http://private.test/', 'http://10.0.0.1/', 'http://169.254.169.254/', 'http://metadata.test/', 'http://[::ffff:10.0.0.1]/', 'http://v6ula.test/']) {
      expect((await refusal(() => resolve(url, insecure))).code).toBe('webhook.url_forbidden');
    }
  });

  it('requires https at resolve time too, so an http subscription is not delivered once http is disallowed', async () => {
    expect((await refusal(() => resolve('http://public.test/'))).code).toBe('webhook.url_insecure');
  });

  it('skips the address check for an allowed host, compared case-insensitively, but still resolves it', async () => {
    const policy = { ...strict, allowHosts: ['INTERNAL.test'] };
    lookedUp.length = 0;
    await expect(resolve('https://Internal.Test/hook', policy)).resolves.toEqual({ address: '10.0.0.5', family: 4 });
    expect(lookedUp).toEqual(['internal.test']);
  });

  it('does not extend an allowed host to its subdomains or other hosts', async () => {
    const policy = { ...strict, allowHosts: ['internal.test'] };
    expect((await refusal(() => resolve('https://evil.internal.test/', policy))).reason).toBe('private address 10.0.0.6');
    expect((await refusal(() => resolve('https://private.test/', policy))).reason).toBe('private address 10.1.2.3');
  });

  it('still requires https for an allowed host unless allowInsecure', async () => {
    const policy = { ...strict, allowHosts: ['internal.test'] };
    expect((await refusal(() => resolve('http://internal.test/', policy))).code).toBe('webhook.url_insecure');
    await expect(resolve('http://internal.test/', { ...policy, allowInsecure: true })).resolves.toEqual({ address: '10.0.0.5', family: 4 });
  });

  it('refuses a name that does not resolve, with the DNS error code in the reason', async () => {
    const error = await refusal(() => resolve('https://nowhere.test/'));
    expect(error.code).toBe('webhook.url_unresolvable');
    expect(error.reason).toBe('unresolvable (ENOTFOUND)');
    expect(error.message).toContain("'nowhere.test'");
    expect((await refusal(() => resolve('https://flaky.test/'))).reason).toBe('unresolvable (EAI_AGAIN)');
  });

  it('refuses a name whose lookup answers no address', async () => {
    const error = await refusal(() => resolve('https://empty.test/'));
    expect(error.code).toBe('webhook.url_unresolvable');
    expect(error.reason).toBe('unresolvable (no address)');
  });
});
