import { spawn, spawnSync } from 'node:child_process';
import { ROOT } from '../helpers/server-process.js';

/**
 * The `arbor` CLI run as a user runs it: a process per command (src/cli/arbor.ts through tsx, as
 * `npm run arbor` runs its build), with only the environment given (credentials by ARBOR_URL,
 * ARBOR_CLIENT_ID and ARBOR_CLIENT_SECRET, or a login kept under `config`).
 */

export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

const ARBOR = [process.execPath, '--import', 'tsx', 'src/cli/arbor.ts'];

/** Runs `arbor ...args` with stdin, stdout and stderr as pipes (no terminal). */
export function arbor(args: string[], env: Record<string, string>, config: string): Promise<Outcome> {
  return run(ARBOR[0], [...ARBOR.slice(1), ...args], env, config);
}

/** Whether script(1) of util-linux is here to give a command a terminal (a pty). */
export const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout?.includes('util-linux') === true;

/**
 * Runs `arbor ...args` on a terminal: stdout and stderr are both the pty that script(1) opens,
 * so `stdout` here is everything either printed, terminal escapes included.
 */
export function arborOnTerminal(args: string[], env: Record<string, string>, config: string): Promise<Outcome> {
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  return run('script', ['-qefc', [...ARBOR, ...args].map(quote).join(' '), '/dev/null'], env, config);
}

function run(command: string, args: string[], env: Record<string, string>, config: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: config, XDG_CONFIG_HOME: config, ARBOR_CLI_STORE: 'file', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
