import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * What `arbor login` keeps: where Arbor is and the API client to act as, and the last token with
 * its expiry (so that most commands need no token request). In the OS keyring where one answers
 * (macOS Keychain, Windows Credential Manager, the Secret Service on a Linux desktop), else in a
 * file only its owner may read (0600) under $XDG_CONFIG_HOME/arbor (default ~/.config/arbor),
 * where none answers or it refuses (a server, a container). ARBOR_CLI_STORE=file skips the keyring.
 */
export interface Profile {
  url: string;
  clientId: string;
  clientSecret: string;
  /** The tenant a tenant client belongs to (from its token), used when --tenant is not given. */
  tenantId?: string | null;
  token?: { value: string; expiresAt: number };
}

const SERVICE = 'arbor-cli';
/** ARBOR_CLI_PROFILE names another set of credentials (default: "default"). */
const account = () => process.env.ARBOR_CLI_PROFILE || 'default';

function configDir(): string {
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'arbor');
}

export function profileFile(): string {
  return join(configDir(), account() === 'default' ? 'profile.json' : `profile-${account()}.json`);
}

interface Keyring {
  get(): string | null;
  set(value: string): void;
  remove(): void;
}

/** The OS keyring's entry; every use may throw where none answers (a server, a container). */
async function keyring(): Promise<Keyring | null> {
  if (process.env.ARBOR_CLI_STORE === 'file') return null;
  try {
    const { Entry } = await import('@napi-rs/keyring');
    const entry = new Entry(SERVICE, account());
    return {
      get: () => entry.getPassword() ?? null,
      set: (value) => entry.setPassword(value),
      remove: () => void entry.deletePassword(),
    };
  } catch {
    return null;
  }
}

/** Runs `use` on the keyring; undefined where there is none or it refuses. */
async function withKeyring<T>(use: (ring: Keyring) => T): Promise<T | undefined> {
  const ring = await keyring();
  if (!ring) return undefined;
  try {
    return use(ring);
  } catch {
    return undefined;
  }
}

export async function loadProfile(): Promise<Profile | null> {
  const text = (await withKeyring((ring) => ring.get())) ?? (existsSync(profileFile()) ? readFileSync(profileFile(), 'utf8') : null);
  if (!text) return null;
  try {
    return JSON.parse(text) as Profile;
  } catch {
    return null;
  }
}

/** Where the profile went: 'the OS keyring' or the file's path. */
export async function saveProfile(profile: Profile): Promise<string> {
  const text = JSON.stringify(profile);
  const kept = await withKeyring((ring) => {
    ring.set(text);
    return ring.get() === text;
  });
  if (kept) {
    rmSync(profileFile(), { force: true });
    return 'the OS keyring';
  }
  const file = profileFile();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // A new file, 0600 from its creation, put in place of any older one (whatever its rights):
  // the secret is never in a file others may read, not even for a moment.
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600 });
  renameSync(temporary, file);
  return file;
}

export async function removeProfile(): Promise<void> {
  await withKeyring((ring) => ring.remove());
  rmSync(profileFile(), { force: true });
}
