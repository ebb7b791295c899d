// `ferry usage [user]` (bytes in the current quota period) and `ferry audit` (the admin trail).
import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import {
  clientOptions,
  formatBytes,
  printJson,
  printTable,
  withClient,
  type ClientFlags,
} from './control-client.js';

export function registerUsageCommands(program: Command): void {
  clientOptions(
    program.command('usage [user]').description('data used in the current quota period, per user'),
  ).action(async (user: string | undefined, flags: ClientFlags) => {
    const rows = await withClient(flags, (c) => c.usage.report(user));
    if (flags.json) return printJson(rows);
    printTable(
      ['USER', 'TIER', 'SINCE', 'UP', 'DOWN', 'TOTAL', 'QUOTA', 'LEFT'],
      rows.map((r) => [
        r.user,
        r.tier,
        `${r.periodStart.slice(0, 10)} (${r.period})`,
        formatBytes(r.bytesUp),
        formatBytes(r.bytesDown),
        formatBytes(r.bytesTotal),
        formatBytes(r.quota),
        r.remaining === null ? 'unlimited' : formatBytes(r.remaining),
      ]),
    );
  });

  clientOptions(
    program
      .command('audit')
      .description('admin actions: who did what, when (newest first)')
      .option('--since <when>', 'a duration ago (7d) or a date')
      .option('--limit <n>', 'at most this many events (default 100)'),
  ).action(async (flags: ClientFlags & { since?: string; limit?: string }) => {
    if (flags.limit !== undefined && !/^\d+$/.test(flags.limit))
      throw new FerryError('E_INVALID', '--limit: not a number');
    const events = await withClient(flags, (c) =>
      c.audit.list({
        ...(flags.since !== undefined ? { since: flags.since } : {}),
        ...(flags.limit !== undefined ? { limit: Number(flags.limit) } : {}),
      }),
    );
    if (flags.json) return printJson(events);
    printTable(
      ['AT', 'ACTOR', 'ACTION', 'TARGET', 'DETAILS'],
      events.map((e) => [
        e.at.slice(0, 19).replace('T', ' '),
        e.actor,
        e.action,
        e.target,
        e.details && JSON.stringify(e.details),
      ]),
    );
  });
}
