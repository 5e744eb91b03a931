/**
 * SSRF protection for outbound webhook deliveries: which URLs may be called and the one address
 * a delivery may connect to. A webhook URL is chosen by a tenant, so without this check Arbor
 * would call, on the tenant's behalf, anything the server can reach: cloud metadata endpoints,
 * the database, admin ports on localhost.
 */
import { Resolver } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { AppError } from '../errors.js';

/** Resolves a host name to every address it has (the system resolver in production; a stub in tests). */
export type LookupAll = (hostname: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;

// c-ares, not getaddrinfo: dns.lookup runs on libuv's four-thread pool, which a resolver that
// never answers would fill, stalling everything else that uses it (scrypt for token requests, file
// I/O). A query gives up after 2 s, twice tried. The price: /etc/hosts is not read.
const resolver = new Resolver({ timeout: 2_000, tries: 2 });

/** Every A and AAAA address of the name from the DNS (c-ares): IPv4 first. */
export const systemLookup: LookupAll = async (hostname) => {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
  const addresses = [
    ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 as const })) : []),
    ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 as const })) : []),
  ];
  if (addresses.length === 0 && v4.status === 'rejected') throw v4.reason;
  return addresses;
};

export interface WebhookTargetPolicy {
  /** ARBOR_WEBHOOK_ALLOW_INSECURE=true: http:// and loopback addresses are allowed (tests, local development); nothing else is relaxed. */
  allowInsecure: boolean;
  /** ARBOR_WEBHOOK_ALLOW_HOSTS: exact host names (lower-case, no port) whose addresses are not checked; https is still required. */
  allowHosts: readonly string[];
  lookup: LookupAll;
}

/**
 * Why an address may not be called. `metadata`: a cloud instance-metadata endpoint (credentials!);
 * `shared`: 100.64/10 carrier-grade NAT; `site-local`: deprecated fec0::/10; `discard`: 100::/64;
 * `reserved`: IETF protocol assignments, 240/4, IPv4-compatible ::/96 and any IPv6 outside the
 * global unicast 2000::/3; `invalid`: not an IP address at all.
 */
export type AddressClass =
  | 'unspecified' | 'loopback' | 'private' | 'metadata' | 'link-local' | 'shared' | 'unique-local' | 'site-local'
  | 'multicast' | 'broadcast' | 'documentation' | 'benchmarking' | 'discard' | 'reserved' | 'invalid';

// First match wins, so the specific entries (metadata, broadcast, benchmarking) precede the ranges containing them.
const RANGES: ReadonlyArray<readonly [AddressClass, readonly string[]]> = [
  ['metadata', ['169.254.169.254/32', '100.100.100.200/32', '192.0.0.192/32', 'fd00:ec2::254/128']], // AWS/GCP/Azure, Alibaba, Oracle, AWS IPv6
  ['unspecified', ['0.0.0.0/8', '::/128']],
  ['loopback', ['127.0.0.0/8', '::1/128']],
  ['private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']],
  ['link-local', ['169.254.0.0/16', 'fe80::/10']],
  ['shared', ['100.64.0.0/10']],
  ['unique-local', ['fc00::/7']],
  ['site-local', ['fec0::/10']],
  ['multicast', ['224.0.0.0/4', 'ff00::/8']],
  ['broadcast', ['255.255.255.255/32']],
  ['documentation', ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32', '3fff::/20']],
  ['benchmarking', ['198.18.0.0/15', '2001:2::/48']],
  ['discard', ['100::/64']],
  // 192.88.99/24: the deprecated 6to4 relay anycast; 64:ff9b:1::/48: local-use NAT64, which translates to internal IPv4s.
  ['reserved', ['192.0.0.0/24', '192.88.99.0/24', '240.0.0.0/4', '::/96', '2001::/23', '64:ff9b:1::/48']],
];

const CLASSES = RANGES.map(([name, cidrs]) => {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network, bits] = cidr.split('/');
    list.addSubnet(network, Number(bits), isIP(network) === 6 ? 'ipv6' : 'ipv4');
  }
  return [name, list] as const;
});

const globalUnicast = new BlockList();
globalUnicast.addSubnet('2000::', 3, 'ipv6');

/** The eight 16-bit groups of an IPv6 address (the URL parser canonicalises it to hex groups and one `::`). */
function ipv6Groups(address: string): number[] {
  const [head, tail] = new URL(`http://[${address}]/`).hostname.slice(1, -1).split('::');
  const groups = (part: string | undefined) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  if (tail === undefined) return groups(head);
  const [front, back] = [groups(head), groups(tail)];
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

const dotted = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

/** The IPv4 address an IPv6 address stands for: IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16. */
function embeddedIpv4(g: number[]): string | null {
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return dotted(g[6], g[7]);
  // A NAT64 gateway translates 64:ff9b::a00:1 to 10.0.0.1: the IPv4 is what is really called.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return dotted(g[6], g[7]);
  if (g[0] === 0x2002) return dotted(g[1], g[2]);
  return null;
}

/** Why an address may not be called, or null when it may (a public unicast address). */
export function forbiddenAddressClass(address: string): AddressClass | null {
  // A zone (fe80::1%eth0) only qualifies a link-local address, which is refused anyway.
  const bare = address.split('%')[0];
  const family = isIP(bare);
  if (family === 0) return 'invalid'; // fail closed: a resolver answering garbage is not a public address
  if (family === 6) {
    const ipv4 = embeddedIpv4(ipv6Groups(bare));
    if (ipv4 !== null) return forbiddenAddressClass(ipv4);
  }
  const type = family === 6 ? 'ipv6' : 'ipv4';
  for (const [name, list] of CLASSES) if (list.check(bare, type)) return name;
  // Allow-list for IPv6: only global unicast is public; the rest is unassigned or special-purpose.
  if (family === 6 && !globalUnicast.check(bare, 'ipv6')) return 'reserved';
  return null;
}

/** A webhook URL or target that may not be called (422); `reason` is the short form for delivery logs. */
export class WebhookTargetError extends AppError {
  constructor(
    code: 'webhook.url_invalid' | 'webhook.url_insecure' | 'webhook.url_forbidden' | 'webhook.url_unresolvable',
    readonly reason: string,
    detail: string,
  ) {
    super(422, code, detail);
  }
}

const MAX_URL_LENGTH = 2048;
const URL_RULES = 'Give an absolute https:// URL without credentials (user:pass@) or fragment (#), at most 2048 characters.';

function invalid(reason: string, what: string): WebhookTargetError {
  return new WebhookTargetError('webhook.url_invalid', reason, `The webhook URL ${what}. ${URL_RULES}`);
}

/** Syntax and scheme only (no DNS): absolute http(s), https unless allowInsecure, no userinfo or fragment, ≤ 2048 chars. */
export function parseWebhookUrl(url: string, policy: Pick<WebhookTargetPolicy, 'allowInsecure'>): URL {
  // The URL itself is never echoed in a detail: it may carry credentials and details get logged.
  if (url.length > MAX_URL_LENGTH) throw invalid('url too long', `is ${url.length} characters long`);
  let parsed: URL;
  try {
    parsed = new URL(url); // rejects ports above 65535 and relative URLs
  } catch {
    throw invalid('unparsable url', 'is not an absolute URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw invalid(`scheme ${parsed.protocol}`, `uses the scheme ${parsed.protocol}`);
  }
  if (parsed.protocol === 'http:' && !policy.allowInsecure) {
    throw new WebhookTargetError(
      'webhook.url_insecure',
      'http scheme',
      'The webhook URL uses http://, which sends every delivery unencrypted. Use an https:// URL; ARBOR_WEBHOOK_ALLOW_INSECURE=true permits http for local development only.',
    );
  }
  if (parsed.username !== '' || parsed.password !== '') throw invalid('userinfo', 'contains credentials (user:pass@)');
  if (parsed.hash !== '') throw invalid('fragment', 'contains a fragment (#…)');
  if (parsed.port === '0') throw invalid('port 0', 'has port 0');
  return parsed;
}

function forbidden(host: string, address: string, addressClass: AddressClass): WebhookTargetError {
  const where = host === address ? `The webhook host ${address} is` : `The webhook host '${host}' resolves to ${address},`;
  const remedy =
    addressClass === 'loopback'
      ? 'Loopback receivers are allowed only with ARBOR_WEBHOOK_ALLOW_INSECURE=true (local development).'
      : `Webhook receivers must be reachable on the public internet; for a trusted internal receiver set ARBOR_WEBHOOK_ALLOW_HOSTS=${host} (docs/webhooks.md).`;
  return new WebhookTargetError('webhook.url_forbidden', `${addressClass} address ${address}`, `${where} a ${addressClass} address. ${remedy}`);
}

function unresolvable(host: string, reason: string, what: string): WebhookTargetError {
  return new WebhookTargetError(
    'webhook.url_unresolvable',
    reason,
    `The webhook host '${host}' ${what}. Check the host name; it must resolve in public DNS.`,
  );
}

/**
 * The one address a delivery may connect to (pin the connection to it: no second lookup, so no DNS
 * rebinding between check and connect). Refuses the target if ANY resolved address is forbidden.
 */
export async function resolveWebhookTarget(url: URL, policy: WebhookTargetPolicy): Promise<{ address: string; family: 4 | 6 }> {
  // Re-checked here too: a subscription stored while http was allowed must not be delivered once it is not.
  parseWebhookUrl(url.href, policy);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const name = host.replace(/\.$/, ''); // `localhost.` is the same name as `localhost`
  // An allowed host skips every address rule, localhost included: the operator named it explicitly.
  const trusted = policy.allowHosts.some((allowed) => allowed.toLowerCase() === name);
  const check = (address: string) => {
    const addressClass = forbiddenAddressClass(address);
    if (addressClass !== null && !(addressClass === 'loopback' && policy.allowInsecure)) throw forbidden(name, address, addressClass);
  };

  const literal = isIP(host);
  if (literal !== 0) {
    if (!trusted) check(host);
    return { address: host, family: literal === 6 ? 6 : 4 };
  }
  // RFC 6761: *.localhost is loopback whatever DNS says, so refuse it before asking.
  if (!trusted && !policy.allowInsecure && (name === 'localhost' || name.endsWith('.localhost'))) {
    throw forbidden(name, name, 'loopback');
  }

  let answers: Array<{ address: string; family: 4 | 6 }>;
  try {
    answers = await policy.lookup(host);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const dnsCode = typeof code === 'string' ? code : 'lookup error';
    throw unresolvable(name, `unresolvable (${dnsCode})`, `could not be resolved (${dnsCode})`);
  }
  if (answers.length === 0) throw unresolvable(name, 'unresolvable (no address)', 'has no address');
  // Every answer, not just the first: the client (or the attacker's DNS) decides which one gets used.
  if (!trusted) for (const { address } of answers) check(address);
  const [first] = answers;
  return { address: first.address, family: isIP(first.address) === 6 ? 6 : 4 };
}
