#!/usr/bin/env node
// The `ferry` command line. One file per command group; this one wires them up and turns errors into
// one clear line and a non-zero exit status.
import { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { registerServe } from './serve.js';
import { registerPasswd } from './passwd.js';

const program = new Command();
program.name('ferry').description('Ferry: VPN (WireGuard-compatible) and proxy gateway').version('0.1.0');
registerServe(program);
registerPasswd(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof FerryError) {
    process.stderr.write(`ferry: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`ferry: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
