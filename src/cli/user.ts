// `ferry user ...`: users of the store. Proxy passwords are printed once, when created or rotated;
// the store keeps only their hashes.
import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import type { UserView } from '../control/service/views.js';
import {
  clientOptions,
  formatBytes,
  formatTime,
  printFields,
  printJson,
  printTable,
  readStdinLine,
  shadowsocksOf,
  withClient,
  type ClientFlags,
} from './control-client.js';
import { printSecret, registerCredentialCommands, registerDeviceCommands } from './user-access.js';
import {
  linkOptions,
  printSsLinks,
  registerShadowsocksKeyCommand,
  storedKey,
  userSsLinks,
  type LinkFlags,
} from './user-shadowsocks.js';

interface AddFlags extends ClientFlags {
  role?: 'admin' | 'member';
  tier?: string;
  expires?: string;
  passwordStdin?: boolean;
}

interface SetFlags extends ClientFlags {
  role?: 'admin' | 'member';
  tier?: string;
  expires?: string;
}

const noneToNull = (v: string | undefined): string | null | undefined =>
  v === undefined ? undefined : v === 'none' || v === '' ? null : v;

function userRows(users: UserView[]): void {
  printTable(
    ['NAME', 'ROLE', 'TIER', 'ENABLED', 'EXPIRES', 'SOURCE'],
    users.map((u) => [u.name, u.role, u.tier, u.enabled ? 'yes' : 'no', formatTime(u.expiresAt), u.source]),
  );
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manage users, their proxy credentials and devices');

  clientOptions(
    user
      .command('add <name>')
      .description('create a user with a generated proxy password (printed once)')
      .option('--role <role>', 'member (default) or admin')
      .option('--tier <tier>', 'service tier')
      .option('--expires <when>', 'expiry: a date (2027-01-01), a duration (30d) or never')
      .option('--password-stdin', 'read the proxy password from stdin instead of generating one'),
  ).action(async (name: string, flags: AddFlags) => {
    const password = flags.passwordStdin ? await readStdinLine() : undefined;
    const r = await withClient(flags, (c) =>
      c.users.add({
        name,
        ...(flags.role ? { role: flags.role } : {}),
        ...(flags.tier ? { tier: flags.tier } : {}),
        ...(flags.expires ? { expires: flags.expires } : {}),
        ...(password !== undefined ? { password } : {}),
      }),
    );
    if (flags.json) return printJson(password === undefined ? r : { user: r.user });
    const tier = r.user.tier ? `, tier ${r.user.tier}` : '';
    printSecret(
      r.credential,
      flags,
      `user ${r.user.name} created (${r.user.role}${tier})`,
      password !== undefined,
    );
  });

  clientOptions(
    user.command('list').description('list users (config-file users are marked "config")'),
  ).action(async (flags: ClientFlags) => {
    const users = await withClient(flags, (c) => c.users.list());
    if (flags.json) printJson(users);
    else userRows(users);
  });

  linkOptions(
    clientOptions(
      user
        .command('show <name>')
        .description(
          'a user with credentials (names only), tier, usage, devices, and Shadowsocks links with QR codes',
        ),
    ),
  ).action(async (name: string, flags: LinkFlags) => {
    // Links only when the config file has a Shadowsocks inbound: the key is not read otherwise.
    const wantLinks = shadowsocksOf(flags).shadowsocks.length > 0;
    const [u, key] = await withClient(flags, async (c) => {
      const shown = await c.users.show(name);
      return [shown, wantLinks && shown.source === 'store' ? await storedKey(c, name) : null] as const;
    });
    const links = wantLinks ? userSsLinks(name, key, flags) : [];
    if (flags.json) return printJson(links.length ? { ...u, shadowsocks: links } : u);
    printFields([
      ['name', u.name],
      ['role', u.role],
      ['tier', u.tier],
      ['enabled', u.enabled ? 'yes' : 'no'],
      ['expires', formatTime(u.expiresAt)],
      ['source', u.source],
      ['created', u.createdAt && formatTime(u.createdAt)],
      ['credentials', u.credentials.map((c) => c.username).join(', ')],
      [
        'devices',
        u.devices.map((d) => `${d.name} (${d.addressV4 ?? d.addressV6 ?? 'no address'})`).join(', '),
      ],
      ['tokens', u.tokens.map((t) => `#${t.id} ${t.name} [${t.scopes.join(',')}]`).join(', ')],
      [
        'usage',
        u.usage &&
          `${formatBytes(u.usage.bytesTotal)} of ${formatBytes(u.usage.quota)} since ${u.usage.periodStart.slice(0, 10)} (${u.usage.period})`,
      ],
    ]);
    await printSsLinks(links, flags);
  });

  clientOptions(
    user
      .command('set <name>')
      .description("change a user's role, tier or expiry")
      .option('--role <role>', 'member or admin')
      .option('--tier <tier>', 'service tier, or none')
      .option('--expires <when>', 'a date, a duration from now, or never'),
  ).action(async (name: string, flags: SetFlags) => {
    const patch = {
      ...(flags.role ? { role: flags.role } : {}),
      ...(flags.tier !== undefined ? { tier: noneToNull(flags.tier) } : {}),
      ...(flags.expires !== undefined ? { expires: flags.expires } : {}),
    };
    if (Object.keys(patch).length === 0)
      throw new FerryError('E_INVALID', 'nothing to change: give --role, --tier or --expires');
    const u = await withClient(flags, (c) => c.users.update(name, patch));
    if (flags.json) printJson(u);
    else userRows([u]);
  });

  for (const [verb, doc] of [
    ['disable', 'refuse new logins (the data plane closes open connections on its next refresh)'],
    ['enable', 'allow logins again'],
  ] as const)
    clientOptions(user.command(`${verb} <name>`).description(doc)).action(
      async (name: string, flags: ClientFlags) => {
        const u = await withClient(flags, (c) => c.users[verb](name));
        if (flags.json) printJson(u);
        else process.stdout.write(`user ${u.name} ${verb}d\n`);
      },
    );

  clientOptions(
    user.command('remove <name>').description('delete a user with their credentials, tokens and devices'),
  ).action(async (name: string, flags: ClientFlags) => {
    await withClient(flags, (c) => c.users.remove(name));
    if (flags.json) printJson({ removed: name });
    else process.stdout.write(`user ${name} removed\n`);
  });

  clientOptions(
    user
      .command('passwd <name>')
      .description("rotate the user's main proxy password (the new one is printed once)")
      .option('--password-stdin', 'read the new password from stdin instead of generating one'),
  ).action(async (name: string, flags: ClientFlags & { passwordStdin?: boolean }) => {
    const password = flags.passwordStdin ? await readStdinLine() : undefined;
    const s = await withClient(flags, (c) =>
      c.users.passwd(name, password !== undefined ? { password } : {}),
    );
    printSecret(s, flags, `new proxy password for ${name}`, password !== undefined);
  });

  clientOptions(
    user.command('export <name>').description('everything stored about a user, as JSON (GDPR access)'),
  ).action(async (name: string, flags: ClientFlags) => {
    printJson(await withClient(flags, (c) => c.users.export(name)));
  });

  clientOptions(
    user
      .command('forget <name>')
      .description('erase a user and every record naming them (GDPR erasure); needs --yes')
      .option('--yes', 'confirm: this cannot be undone'),
  ).action(async (name: string, flags: ClientFlags & { yes?: boolean }) => {
    if (!flags.yes)
      throw new FerryError('E_INVALID', `forgetting '${name}' cannot be undone; repeat with --yes`);
    await withClient(flags, (c) => c.users.forget(name));
    if (flags.json) printJson({ forgotten: true });
    else process.stdout.write('user erased; the audit log keeps the actions under a pseudonym\n');
  });

  registerShadowsocksKeyCommand(user);
  registerCredentialCommands(user);
  registerDeviceCommands(user);
}
