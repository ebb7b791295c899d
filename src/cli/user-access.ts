// `ferry user credential ...` (extra proxy logins, e.g. one per device, each rotatable on its own)
// and `ferry user device ...` (the user's WireGuard peers).
import type { Command } from 'commander';
import type { CredentialSecret } from '../control/service/views.js';
import {
  clientOptions,
  formatTime,
  printJson,
  printTable,
  proxyAddressOf,
  readStdinLine,
  withClient,
  type ClientFlags,
} from './control-client.js';

type PwFlags = ClientFlags & { passwordStdin?: boolean };

/**
 * The one-time secret, with how to use it. A password the admin supplied (--password-stdin) is not
 * echoed back.
 */
export function printSecret(s: CredentialSecret, flags: ClientFlags, headline: string, given = false): void {
  if (flags.json) return printJson(given ? { user: s.user, username: s.username } : s);
  const rotate =
    s.username === s.user ? `ferry user passwd ${s.user}` : `ferry user credential rotate ${s.username}`;
  if (given) {
    process.stdout.write(
      `${headline}\n  proxy login:    ${s.username}\n  proxy password: (the one given on stdin)\n`,
    );
    return;
  }
  const proxy = proxyAddressOf(flags);
  process.stdout.write(
    `${headline}\n` +
      `  proxy login:    ${s.username}\n` +
      `  proxy password: ${s.password}\n` +
      `The password is shown only now; \`${rotate}\` makes a new one.\n` +
      `Try it:  curl -x http://${encodeURIComponent(s.username)}:${encodeURIComponent(s.password)}@${proxy} https://example.com/\n`,
  );
}

export function registerCredentialCommands(user: Command): void {
  const cred = user.command('credential').alias('cred').description("a user's proxy logins");

  clientOptions(
    cred
      .command('add <user> [login]')
      .description('add a proxy login (default <user>-2, -3, ...; must be <user> or start with "<user>-")')
      .option('--password-stdin', 'read the password from stdin instead of generating one'),
  ).action(async (userName: string, login: string | undefined, flags: PwFlags) => {
    const password = flags.passwordStdin ? await readStdinLine() : undefined;
    const s = await withClient(flags, (c) =>
      c.credentials.add({
        user: userName,
        ...(login !== undefined ? { username: login } : {}),
        ...(password !== undefined ? { password } : {}),
      }),
    );
    printSecret(s, flags, `proxy login ${s.username} added for ${s.user}`, password !== undefined);
  });

  clientOptions(cred.command('list [user]').description('proxy logins (names only)')).action(
    async (userName: string | undefined, flags: ClientFlags) => {
      const list = await withClient(flags, (c) => c.credentials.list(userName));
      if (flags.json) printJson(list);
      else
        printTable(
          ['LOGIN', 'USER', 'CREATED'],
          list.map((c) => [c.username, c.user, formatTime(c.createdAt)]),
        );
    },
  );

  clientOptions(
    cred
      .command('rotate <login>')
      .description("replace one proxy login's password (printed once)")
      .option('--password-stdin', 'read the password from stdin instead of generating one'),
  ).action(async (login: string, flags: PwFlags) => {
    const password = flags.passwordStdin ? await readStdinLine() : undefined;
    const s = await withClient(flags, (c) =>
      c.credentials.rotate(login, password !== undefined ? { password } : {}),
    );
    printSecret(s, flags, `new password for proxy login ${s.username}`, password !== undefined);
  });

  clientOptions(cred.command('remove <login>').description('delete a proxy login')).action(
    async (login: string, flags: ClientFlags) => {
      await withClient(flags, (c) => c.credentials.remove(login));
      if (flags.json) printJson({ removed: login });
      else process.stdout.write(`proxy login ${login} removed\n`);
    },
  );
}

export function registerDeviceCommands(user: Command): void {
  const dev = user.command('device').description("a user's WireGuard devices (peers)");

  clientOptions(
    dev
      .command('add <user> <device>')
      .description('record a device by its public key (the tier may cap the number of devices)')
      .requiredOption('--public-key <key>', 'the WireGuard public key (base64)')
      .option(
        '--address <ip>',
        'its tunnel address (IPv4 or IPv6; repeat for both)',
        (v: string, p: string[]) => [...p, v],
        [],
      ),
  ).action(
    async (
      userName: string,
      device: string,
      flags: ClientFlags & { publicKey: string; address: string[] },
    ) => {
      const v4 = flags.address.find((a) => !a.includes(':'));
      const v6 = flags.address.find((a) => a.includes(':'));
      const p = await withClient(flags, (c) =>
        c.peers.add({
          user: userName,
          name: device,
          publicKey: flags.publicKey,
          ...(v4 ? { addressV4: v4 } : {}),
          ...(v6 ? { addressV6: v6 } : {}),
        }),
      );
      if (flags.json) printJson(p);
      else process.stdout.write(`device ${p.name} added for ${p.user}\n`);
    },
  );

  clientOptions(dev.command('list [user]').description('devices')).action(
    async (userName: string | undefined, flags: ClientFlags) => {
      const list = await withClient(flags, (c) => c.peers.list(userName));
      if (flags.json) printJson(list);
      else
        printTable(
          ['USER', 'DEVICE', 'PUBLIC KEY', 'ADDRESSES', 'CREATED'],
          list.map((p) => [
            p.user,
            p.name,
            p.publicKey,
            [p.addressV4, p.addressV6].filter(Boolean).join(' '),
            formatTime(p.createdAt),
          ]),
        );
    },
  );

  clientOptions(dev.command('remove <user> <device>').description('delete a device')).action(
    async (userName: string, device: string, flags: ClientFlags) => {
      await withClient(flags, (c) => c.peers.remove(userName, device));
      if (flags.json) printJson({ removed: device });
      else process.stdout.write(`device ${device} removed\n`);
    },
  );
}
