import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

/**
 * A real OpenLDAP for import/export tests: `slapadd`/`slapcat` work on the database files offline
 * (the way an operator loads or dumps a directory), and `start()` serves the same database on
 * loopback so `ldapadd`/`ldapsearch` speak the wire protocol to it. Each directory lives in its
 * own temp dir with its own slapd.conf, so tests never touch a system slapd and clean up after
 * themselves. The tools come from Debian's `slapd` and `ldap-utils`; where they are missing,
 * `slapdMissing()` says so and the tests skip.
 */

const run = promisify(execFile);

const INSTALL_HINT = 'apt-get install -y slapd ldap-utils';
const TOOLS = ['slapadd', 'slapcat', 'slapd', 'ldapadd', 'ldapsearch'] as const;
type Tool = (typeof TOOLS)[number];
// Debian puts the slap* tools in /usr/sbin, which is not on a non-root user's PATH.
const EXTRA_BIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const SCHEMA_DIRS = ['/etc/ldap/schema', '/etc/openldap/schema', '/usr/local/etc/openldap/schema'];
const SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis'];
// Debian (12: OpenLDAP 2.5) builds every backend as a module: without `moduleload back_mdb`,
// `database mdb` fails with "Unrecognized database type (mdb)". Builds with mdb compiled in have
// no back_mdb module file, and then nothing is loaded.
const MODULE_DIRS = ['/usr/lib/ldap', '/usr/lib/openldap', '/usr/lib64/openldap', '/usr/libexec/openldap'];

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 50;
const START_ATTEMPTS = 3;
// The ldap-utils read ~/.ldaprc and /etc/ldap/ldap.conf (BASE, URI, TLS settings) unless told not
// to; a developer's config must not change what the tests see.
const LDAP_ENV = { ...process.env, LDAPNOINIT: '1' };

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findTool(tool: Tool): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_BIN_DIRS];
  return dirs.map((dir) => join(dir, tool)).find(isExecutable);
}

function findSchemaDir(): string | undefined {
  return SCHEMA_DIRS.find((dir) => SCHEMAS.every((schema) => existsSync(join(dir, `${schema}.schema`))));
}

/** null when every tool and the schema files are there; else one line naming what is missing. */
export function slapdMissing(): string | null {
  const missing: string[] = TOOLS.filter((tool) => findTool(tool) === undefined);
  if (findSchemaDir() === undefined) missing.push(`schema files (${SCHEMAS.join(', ')}.schema)`);
  if (missing.length === 0) return null;
  return `slapd is not installed (missing ${missing.join(', ')}): ${INSTALL_HINT}`;
}

function toolPath(tool: Tool): string {
  const path = findTool(tool);
  if (path === undefined) throw new Error(`${tool} not found: ${INSTALL_HINT}`);
  return path;
}

/** Runs a tool; a failure rejects with its exit status and stderr in the message. */
async function runTool(tool: Tool, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(toolPath(tool), args, { env: LDAP_ENV, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const failure = error as { code?: unknown; stderr?: string; message: string };
    const stderr = failure.stderr?.trim() || failure.message;
    throw new Error(`${tool} ${args.join(' ')} failed (exit ${String(failure.code)}): ${stderr}`);
  }
}

function slapdConf(suffix: string, dir: string): string {
  const schemaDir = findSchemaDir() ?? SCHEMA_DIRS[0];
  const moduleDir = MODULE_DIRS.find((d) => existsSync(join(d, 'back_mdb.la')) || existsSync(join(d, 'back_mdb.so')));
  const lines = [
    ...SCHEMAS.map((schema) => `include ${join(schemaDir, `${schema}.schema`)}`),
    ...(moduleDir ? [`modulepath ${moduleDir}`, 'moduleload back_mdb'] : []),
    '',
    'database mdb',
    // mdb maps maxsize bytes of address space up front; 1 GiB is plenty for fixtures.
    'maxsize 1073741824',
    `suffix "${suffix}"`,
    `rootdn "cn=admin,${suffix}"`,
    'rootpw secret',
    `directory ${join(dir, 'db')}`,
    '',
  ];
  return lines.join('\n');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface LdapDirectory {
  /** The temp dir holding slapd.conf, the database and the LDIF files handed to the tools. */
  dir: string;
  suffix: string;
  /** cn=admin,<suffix>; its password is `secret`. */
  rootDn: string;
  /** Loads LDIF (no changetype lines) offline; rejects with slapadd's stderr. Stop slapd first. */
  slapadd(ldif: string): Promise<void>;
  /** The whole database as slapcat writes it (operational attributes included, lines folded). */
  slapcat(): Promise<string>;
  /** Serves the database on loopback; resolves once ldapsearch gets an answer. Idempotent. */
  start(): Promise<{ url: string }>;
  /** Adds entries over the wire as the rootdn; rejects with ldapadd's stderr. Needs start(). */
  ldapadd(ldif: string): Promise<void>;
  /** Anonymous ldapsearch (-LLL) over the wire; returns its LDIF. Needs start(). */
  ldapsearch(base: string, scope?: 'base' | 'one' | 'sub', filter?: string): Promise<string>;
  /** Stops slapd (SIGTERM, then SIGKILL after 5 s) if started and removes the temp dir. */
  close(): Promise<void>;
}

/** A fresh, empty directory for `suffix` (no entries, not even the suffix entry). */
export async function createDirectory(suffix: string): Promise<LdapDirectory> {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-slapd-'));
  await mkdir(join(dir, 'db'));
  const conf = join(dir, 'slapd.conf');
  await writeFile(conf, slapdConf(suffix, dir));
  const rootDn = `cn=admin,${suffix}`;

  let files = 0;
  const ldifFile = async (ldif: string) => {
    const file = join(dir, `input-${++files}.ldif`);
    await writeFile(file, ldif);
    return file;
  };

  let slapd: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let url: string | undefined;
  // A crashed test run must not leave a slapd behind: it runs in the foreground (-d 0) as our child,
  // so killing it when this process exits is enough.
  const killOnExit = () => slapd?.kill('SIGKILL');

  const answers = async (candidate: string) => {
    try {
      const args = ['-x', '-H', candidate, '-o', 'nettimeout=1', '-b', suffix, '-s', 'base', '-LLL', '1.1'];
      await runTool('ldapsearch', args);
      return true;
    } catch (error) {
      // "No such object" (exit 32) is an answer: the server is up, the suffix entry not loaded yet.
      return (error as Error).message.includes('(exit 32)');
    }
  };

  const launch = async (): Promise<{ url: string } | { retry: string }> => {
    const port = await freePort();
    const candidate = `ldap://127.0.0.1:${port}/`;
    // -d 0: no debug output, but slapd stays in the foreground, so the child we hold is slapd
    // itself (no daemonized grandchild to find through a pid file).
    const child = spawn(toolPath('slapd'), ['-f', conf, '-h', candidate, '-d', '0'], {
      env: LDAP_ENV,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (stderr.length < 16_384) stderr += chunk;
    });
    let exit: string | undefined;
    slapd = child;
    exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exit = signal ? `signal ${signal}` : `exit ${code}`;
        resolve();
      });
      child.once('error', (error) => {
        exit = error.message;
        resolve();
      });
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exit !== undefined) {
        slapd = undefined;
        const reason = `slapd stopped before answering (${exit}): ${stderr.trim()}`;
        // The port was free a moment ago; another process may have taken it since.
        if (/bind|address already in use/i.test(stderr)) return { retry: reason };
        throw new Error(reason);
      }
      if (await answers(candidate)) return { url: candidate };
      await sleep(POLL_MS);
    }
    await stop();
    throw new Error(`slapd did not answer ldapsearch on ${candidate} within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`);
  };

  const stop = async () => {
    const child = slapd;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    slapd = undefined;
    url = undefined;
    process.off('exit', killOnExit);
  };

  const requireUrl = (what: string) => {
    if (url === undefined) throw new Error(`${what} needs a running slapd: call start() first`);
    return url;
  };

  return {
    dir,
    suffix,
    rootDn,
    async slapadd(ldif) {
      await runTool('slapadd', ['-f', conf, '-l', await ldifFile(ldif)]);
    },
    slapcat() {
      return runTool('slapcat', ['-f', conf]);
    },
    async start() {
      if (url !== undefined) return { url };
      process.on('exit', killOnExit);
      let lastReason = '';
      for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        const result = await launch();
        if ('url' in result) {
          url = result.url;
          return { url };
        }
        lastReason = result.retry;
      }
      process.off('exit', killOnExit);
      throw new Error(`slapd did not start in ${START_ATTEMPTS} attempts: ${lastReason}`);
    },
    async ldapadd(ldif) {
      const target = requireUrl('ldapadd');
      await runTool('ldapadd', ['-x', '-H', target, '-D', rootDn, '-w', 'secret', '-f', await ldifFile(ldif)]);
    },
    ldapsearch(base, scope = 'sub', filter = '(objectClass=*)') {
      const target = requireUrl('ldapsearch');
      return runTool('ldapsearch', ['-x', '-H', target, '-LLL', '-b', base, '-s', scope, filter]);
    },
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reading LDIF back

/**
 * The DNs of the entries whose objectClass includes any of `objectClasses` (case-insensitive),
 * normalized with `normalizeDn`, sorted. Enough LDIF for slapcat, ldapsearch and ldifde output:
 * CRLF or LF, folded lines, comments, `version:`/`changetype:` lines, base64 (`::`) values.
 */
export function dnsOf(ldif: string, objectClasses: string[]): string[] {
  const wanted = new Set(objectClasses.map((name) => name.toLowerCase()));
  const dns: string[] = [];
  for (const record of ldifRecords(ldif)) {
    const dn = record.find(([name]) => name === 'dn')?.[1];
    if (!dn) continue; // the version line's block, or the root DSE
    const classes = record.filter(([name]) => name === 'objectclass').map(([, value]) => value.toLowerCase());
    if (classes.some((name) => wanted.has(name))) dns.push(normalizeDn(dn));
  }
  return dns.sort();
}

/** Records as [lower-cased attribute name, decoded value] pairs; comment lines dropped. */
function ldifRecords(ldif: string): Array<Array<[string, string]>> {
  // Unfold first: a line that starts with one space continues the previous line, comments included.
  const lines: string[] = [];
  for (const line of ldif.split(/\r?\n/)) {
    if (line.startsWith(' ') && lines.length > 0 && lines[lines.length - 1] !== '') {
      lines[lines.length - 1] += line.slice(1);
    } else {
      lines.push(line);
    }
  }
  const records: Array<Array<[string, string]>> = [];
  let current: Array<[string, string]> = [];
  for (const line of [...lines, '']) {
    if (line === '') {
      if (current.length > 0) records.push(current);
      current = [];
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = /^([A-Za-z0-9][A-Za-z0-9;.-]*)(::|:<|:)[ ]*(.*)$/.exec(line);
    if (!match) throw new Error(`not an LDIF line: ${line}`);
    const [, name, separator, raw] = match;
    if (separator === ':<') continue; // a URL value: never in the files we read
    const value = separator === '::' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    current.push([name.toLowerCase().split(';')[0], value]);
  }
  return records;
}

/**
 * A DN in one canonical spelling, so a DN written by hand compares equal to the same DN as slapcat
 * writes it: attribute types and values lower-cased, no spaces around separators (`, ` → `,`),
 * escapes decoded and written one way (`\2C` and `\,` both become `\,`; hex UTF-8 such as
 * `\C3\BC` becomes `ü`), and the parts of a multi-valued RDN sorted. slapcat rewrites `\,` as
 * `\2C`, `\+` as `\2B` and reorders `uid=a+cn=b` as `cn=b+uid=a`, so a plain string replace would
 * not match; and replacing every `, ` would also eat the space inside `Research\, Development`.
 */
export function normalizeDn(dn: string): string {
  const rdns: string[][] = [];
  let avas: string[] = [];
  let i = 0;
  while (i < dn.length) {
    const equals = dn.indexOf('=', i);
    if (equals < 0) throw new Error(`not a DN: ${dn}`);
    const type = dn.slice(i, equals).trim().toLowerCase();
    i = equals + 1;

    let value = '';
    let significant = 0; // length of `value` up to its last escaped or non-space character
    let pending: number[] = []; // bytes of a run of \HH escapes, decoded together as UTF-8
    const flush = () => {
      if (pending.length === 0) return;
      value += Buffer.from(pending).toString('utf8');
      significant = value.length;
      pending = [];
    };
    let separator = '';
    while (i < dn.length) {
      const char = dn[i];
      if (char === '\\') {
        const hex = dn.slice(i + 1, i + 3);
        if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
          pending.push(parseInt(hex, 16));
          i += 3;
          continue;
        }
        flush();
        value += dn[i + 1] ?? '';
        significant = value.length;
        i += 2;
        continue;
      }
      flush();
      if (char === ',' || char === ';' || char === '+') {
        separator = char;
        i++;
        break;
      }
      if (char === ' ' && value.length === 0) {
        i++;
        continue; // a space before the value, e.g. after ", "
      }
      value += char;
      if (char !== ' ') significant = value.length;
      i++;
    }
    flush();
    avas.push(`${type}=${escapeDnValue(value.slice(0, significant).toLowerCase())}`);
    if (separator !== '+') {
      rdns.push(avas.sort());
      avas = [];
    }
  }
  if (avas.length > 0) rdns.push(avas.sort());
  return rdns.map((rdn) => rdn.join('+')).join(',');
}

function escapeDnValue(value: string): string {
  const chars = [...value].map((char) => ('"+,;<>\\'.includes(char) ? `\\${char}` : char));
  if (chars[0] === ' ' || chars[0] === '#') chars[0] = `\\${chars[0]}`;
  if (chars.length > 1 && chars[chars.length - 1] === ' ') chars[chars.length - 1] = '\\ ';
  return chars.join('');
}
