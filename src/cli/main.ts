#!/usr/bin/env node
// The `ferry` command line. One file per command group; this one wires them up and turns errors into
// one clear line and a non-zero exit status.
import cluster from 'node:cluster';
import { Command } from 'commander';
import { validateConfig } from '../config/load.js';
import { FerryError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { runClusterWorker, WORKER_ENV } from '../server/cluster.js';
import { registerPasswd } from './passwd.js';
import { registerServe } from './serve.js';
import { registerExits } from './exits.js';
import { registerCheck } from './check.js';
import { registerAuditProxy } from './audit-proxy.js';
import { registerUserCommands } from './user.js';
import { registerTierCommands } from './tier.js';
import { registerTokenCommands } from './token.js';
import { registerUsageCommands } from './usage.js';
import { registerWgCommands } from './wg.js';
import { registerConnect } from './connect.js';
import { registerVpnCommands } from './vpn.js';
import { registerLeakTest } from './leaktest.js';
import { registerPeerCommands } from './peer.js';

// A worker of `ferry serve --workers N` runs this same file; it takes its orders from the primary.
if (cluster.isWorker && process.env[WORKER_ENV] === '1') {
  runClusterWorker((config) => createLogger({ level: validateConfig(config).log.level }));
} else {
  main();
}

function main(): void {
  const program = new Command();
  program.name('ferry').description('Ferry: VPN (WireGuard-compatible) and proxy gateway').version('0.1.0');
  registerServe(program);
  registerPasswd(program);
  registerExits(program);
  registerCheck(program);
  registerAuditProxy(program);
  registerUserCommands(program);
  registerTierCommands(program);
  registerTokenCommands(program);
  registerUsageCommands(program);
  registerWgCommands(program);
  registerConnect(program);
  registerVpnCommands(program);
  registerLeakTest(program);
  registerPeerCommands(program);

  program.parseAsync(process.argv).catch((err: unknown) => {
    if (err instanceof FerryError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`ferry: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
