import type { Command } from 'commander';
import { CliError, EXIT, unreachable } from './errors.js';
import { type Profile, removeProfile, saveProfile } from './profile.js';
import { type GlobalOptions, clientFor, tenantOf } from './session.js';

/** `arbor login` and `arbor logout`. */
export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('Check an API client’s credentials and keep them (OS keyring, else a 0600 file)')
    .requiredOption('--url <url>', 'where Arbor listens, e.g. http://127.0.0.1:8000')
    .requiredOption('--client-id <id>', 'the API client (a tenant’s, or the platform admin client)')
    .option('--client-secret <secret>', 'its secret (else read from ARBOR_CLIENT_SECRET or stdin; a flag shows in `ps`)')
    .action(async (options: { url: string; clientId: string; clientSecret?: string }) => {
      const secret = options.clientSecret ?? process.env.ARBOR_CLIENT_SECRET ?? (await secretFromStdin());
      if (!secret) throw new CliError('No client secret: pass --client-secret, set ARBOR_CLIENT_SECRET, or type it on stdin.', EXIT.usage);
      const profile: Profile = { url: options.url.replace(/\/+$/, ''), clientId: options.clientId, clientSecret: secret };
      const token = await clientFor(profile, false).accessToken().catch((error: unknown) => {
        throw unreachable(error);
      });
      profile.tenantId = tenantOf(token);
      const where = await saveProfile(profile);
      const json = program.opts<GlobalOptions>().json === true;
      const answer = { url: profile.url, client_id: profile.clientId, tenant_id: profile.tenantId, kept_in: where };
      process.stdout.write(`${json ? JSON.stringify(answer, null, 2) : `Logged in to ${profile.url} as ${profile.clientId}${profile.tenantId ? ` (tenant ${profile.tenantId})` : ' (platform)'}; credentials kept in ${where}.`}\n`);
    });

  program
    .command('logout')
    .description('Forget the kept credentials and token')
    .action(async () => {
      await removeProfile();
      process.stdout.write('Logged out.\n');
    });
}

/** The secret from stdin: typed at a terminal without echo, or piped. */
async function secretFromStdin(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').trim();
  }
  process.stderr.write('Client secret: ');
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  let secret = '';
  try {
    for await (const chunk of stdin) {
      for (const c of chunk as string) {
        if (c === '\r' || c === '\n' || c === '\u0004') return secret;
        if (c === '\u0003') throw new CliError('Interrupted.', EXIT.usage);
        if (c === '\u007f' || c === '\b') secret = secret.slice(0, -1);
        else if (c >= ' ') secret += c;
      }
    }
    return secret;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
