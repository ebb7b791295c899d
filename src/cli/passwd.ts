// `ferry passwd-hash`: prints a scrypt hash for a config file's password_hash field. Reads the
// password from stdin (so it stays out of shell history and `ps`).
import type { Command } from 'commander';
import { hashPassword } from '../auth/password-hash.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export function registerPasswd(program: Command): void {
  program
    .command('passwd-hash')
    .description('read a password on stdin and print its hash for password_hash in the config')
    .action(async () => {
      const pw = await readStdin();
      if (!pw) throw new Error('empty password on stdin');
      process.stdout.write((await hashPassword(pw)) + '\n');
    });
}
