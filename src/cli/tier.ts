// `ferry tier ...`: service tiers. Sizes take binary suffixes (10M = 10 MiB), rates are per second.
import type { Command } from 'commander';
import type { TierCreateInput } from '../control/service/schemas.js';
import type { TierView } from '../control/service/views.js';
import { FerryError } from '../core/errors.js';
import {
  clientOptions,
  formatBytes,
  formatRate,
  formatTime,
  printFields,
  printJson,
  printTable,
  withClient,
  type ClientFlags,
} from './control-client.js';

interface TierFlags extends ClientFlags {
  up?: string;
  down?: string;
  quota?: string;
  period?: 'month' | 'rolling30';
  maxDevices?: string;
  maxConns?: string;
  inbounds?: string;
  exits?: string;
  expires?: string;
}

function tierOptions(cmd: Command): Command {
  return clientOptions(
    cmd
      .option('--up <rate>', 'upload limit per second, e.g. 10M (or unlimited)')
      .option('--down <rate>', 'download limit per second, e.g. 10M (or unlimited)')
      .option('--quota <size>', 'data per period, up + down, e.g. 100G (or unlimited)')
      .option('--period <period>', 'quota period: month (calendar, UTC) or rolling30')
      .option('--max-devices <n>', 'WireGuard devices per user (none = no cap)')
      .option('--max-conns <n>', 'concurrent connections per user (none = no cap)')
      .option('--inbounds <list>', 'allowed inbound kinds: proxy,vpn,encrypted (or all)')
      .option('--exits <list>', 'allowed outbounds (exits) by name (or all)')
      .option('--expires <when>', 'tier expiry: a date, a duration from now, or never'),
  );
}

function count(v: string | undefined, what: string): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'none' || v === 'unlimited') return null;
  if (!/^\d+$/.test(v)) throw new FerryError('E_INVALID', `${what}: '${v}' is not a number`);
  return Number(v);
}

const list = (v: string | undefined): string[] | 'all' | undefined =>
  v === undefined
    ? undefined
    : v === 'all'
      ? 'all'
      : v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);

function fields(f: TierFlags): Omit<TierCreateInput, 'name'> {
  const maxDevices = count(f.maxDevices, '--max-devices');
  const maxConnections = count(f.maxConns, '--max-conns');
  const inbounds = list(f.inbounds);
  const exits = list(f.exits);
  return {
    ...(f.up !== undefined ? { up: f.up } : {}),
    ...(f.down !== undefined ? { down: f.down } : {}),
    ...(f.quota !== undefined ? { quota: f.quota } : {}),
    ...(f.period !== undefined ? { period: f.period } : {}),
    ...(maxDevices !== undefined ? { maxDevices } : {}),
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    ...(inbounds !== undefined ? { inbounds: inbounds as TierCreateInput['inbounds'] } : {}),
    ...(exits !== undefined ? { exits } : {}),
    ...(f.expires !== undefined ? { expires: f.expires } : {}),
  };
}

function rows(tiers: TierView[]): void {
  printTable(
    ['NAME', 'UP', 'DOWN', 'QUOTA', 'PERIOD', 'DEVICES', 'CONNS', 'INBOUNDS', 'EXITS', 'EXPIRES'],
    tiers.map((t) => [
      t.name,
      formatRate(t.up),
      formatRate(t.down),
      formatBytes(t.quota),
      t.period,
      t.maxDevices ?? 'any',
      t.maxConnections ?? 'any',
      t.inbounds?.join(',') ?? 'all',
      t.exits?.join(',') ?? 'all',
      formatTime(t.expiresAt),
    ]),
  );
}

export function registerTierCommands(program: Command): void {
  const tier = program.command('tier').description('manage service tiers (rates, quotas, devices, access)');

  tierOptions(tier.command('add <name>').description('create a tier')).action(
    async (name: string, flags: TierFlags) => {
      const t = await withClient(flags, (c) => c.tiers.create({ name, ...fields(flags) }));
      if (flags.json) printJson(t);
      else rows([t]);
    },
  );

  tierOptions(tier.command('set <name>').description('change a tier (only the options given)')).action(
    async (name: string, flags: TierFlags) => {
      const patch = fields(flags);
      if (Object.keys(patch).length === 0) throw new FerryError('E_INVALID', 'nothing to change');
      const t = await withClient(flags, (c) => c.tiers.update(name, patch));
      if (flags.json) printJson(t);
      else rows([t]);
    },
  );

  clientOptions(tier.command('list').description('list tiers')).action(async (flags: ClientFlags) => {
    const tiers = await withClient(flags, (c) => c.tiers.list());
    if (flags.json) printJson(tiers);
    else rows(tiers);
  });

  clientOptions(tier.command('show <name>').description('a tier and its users')).action(
    async (name: string, flags: ClientFlags) => {
      const t = await withClient(flags, (c) => c.tiers.show(name));
      if (flags.json) return printJson(t);
      printFields([
        ['name', t.name],
        ['up', formatRate(t.up)],
        ['down', formatRate(t.down)],
        ['quota', `${formatBytes(t.quota)} per ${t.period}`],
        ['max devices', t.maxDevices ?? 'any'],
        ['max connections', t.maxConnections ?? 'any'],
        ['inbounds', t.inbounds?.join(', ') ?? 'all'],
        ['exits', t.exits?.join(', ') ?? 'all'],
        ['expires', formatTime(t.expiresAt)],
        ['users', t.users.join(', ')],
      ]);
    },
  );

  clientOptions(
    tier.command('remove <name>').description('delete a tier (refused while users have it)'),
  ).action(async (name: string, flags: ClientFlags) => {
    await withClient(flags, (c) => c.tiers.remove(name));
    if (flags.json) printJson({ removed: name });
    else process.stdout.write(`tier ${name} removed\n`);
  });
}
