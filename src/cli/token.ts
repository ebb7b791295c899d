// `ferry token ...`: API tokens. The secret is printed once; only its SHA-256 is stored.
import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import {
  clientOptions,
  formatTime,
  printJson,
  printTable,
  withClient,
  type ClientFlags,
} from './control-client.js';

interface CreateFlags extends ClientFlags {
  user: string;
  scope: 'admin' | 'read' | 'self';
  expires?: string;
  name?: string;
}

export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('manage API tokens');

  clientOptions(
    token
      .command('create')
      .description('create an API token (printed once)')
      .requiredOption('--user <name>', 'the user the token acts as')
      .requiredOption('--scope <scope>', 'admin, read or self')
      .option('--expires <when>', 'a duration (30d), a date, or never (default 90d)')
      .option('--name <label>', 'a label to tell tokens apart'),
  ).action(async (flags: CreateFlags) => {
    const r = await withClient(flags, (c) =>
      c.tokens.create({
        user: flags.user,
        scope: flags.scope,
        ...(flags.expires !== undefined ? { expires: flags.expires } : {}),
        ...(flags.name !== undefined ? { name: flags.name } : {}),
      }),
    );
    if (flags.json) return printJson(r);
    process.stdout.write(
      `token #${r.token.id} for ${r.token.user} [${r.token.scopes.join(',')}], expires ${formatTime(r.token.expiresAt)}\n` +
        `${r.secret}\n` +
        'It is shown only now; store it in a secret manager. Revoke with `ferry token revoke ' +
        `${r.token.id}\`.\n`,
    );
  });

  clientOptions(token.command('list [user]').description('tokens (never their secrets)')).action(
    async (user: string | undefined, flags: ClientFlags) => {
      const list = await withClient(flags, (c) => c.tokens.list(user));
      if (flags.json) return printJson(list);
      printTable(
        ['ID', 'USER', 'NAME', 'SCOPES', 'EXPIRES', 'LAST USED', 'CREATED'],
        list.map((t) => [
          t.id,
          t.user,
          t.name,
          t.scopes.join(','),
          formatTime(t.expiresAt),
          t.lastUsedAt && formatTime(t.lastUsedAt),
          formatTime(t.createdAt),
        ]),
      );
    },
  );

  clientOptions(token.command('revoke <id>').description('delete a token')).action(
    async (id: string, flags: ClientFlags) => {
      if (!/^\d+$/.test(id))
        throw new FerryError('E_INVALID', `'${id}' is not a token id (see ferry token list)`);
      await withClient(flags, (c) => c.tokens.revoke(Number(id)));
      if (flags.json) printJson({ revoked: Number(id) });
      else process.stdout.write(`token #${id} revoked\n`);
    },
  );
}
