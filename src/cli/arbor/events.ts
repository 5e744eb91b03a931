import { follow, listEvents } from '@arbor/sdk';
import type { Command } from 'commander';
import { CliError, EXIT, call, failure } from './errors.js';
import { openSession } from './session.js';

/** `arbor events`: the change feed, listed or followed. */
export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('The change feed: events after --after, or --follow them as they happen (Ctrl-C stops)')
    .option('--after <seq>', 'events with a seq greater than this', '0')
    .option('--type <types>', 'comma-separated types, e.g. ou.*,user.moved')
    .option('--follow', 'keep waiting for new events')
    .action(async (options: { after: string; type?: string; follow?: boolean }) => {
      const s = await openSession(program);
      const after = Number(options.after);
      if (!Number.isSafeInteger(after) || after < 0) throw new CliError(`--after must be a seq (a whole number), not ${options.after}.`, EXIT.usage);
      const line = (event: { seq: number; occurred_at: string; type: string; resource: { id: string } }) =>
        s.json ? JSON.stringify(event) : `${event.seq}  ${event.occurred_at}  ${event.type}  ${event.resource.id}`;
      if (options.follow) {
        const controller = new AbortController();
        process.once('SIGINT', () => controller.abort());
        try {
          for await (const event of follow(s.arbor, await s.tenant(), { after, signal: controller.signal, ...(options.type ? { type: options.type } : {}) })) process.stdout.write(`${line(event)}\n`);
        } catch (error) {
          throw failure(error);
        }
        return;
      }
      const { data } = await call(listEvents({ client: s.arbor.client, path: { tenant_id: await s.tenant() }, query: { after, ...(options.type ? { type: options.type } : {}) } }));
      for (const event of data) process.stdout.write(`${line(event)}\n`);
    });
}
