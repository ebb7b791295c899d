#!/usr/bin/env node
// Starts one Ferry role for the benchmark, from the compiled tree (dist/), and runs until SIGTERM.
//   node ferry-pair.mjs server METHOD SECRET PORT          Shadowsocks inbound on 127.0.0.1:PORT
//   node ferry-pair.mjs client METHOD SECRET SPORT LPORT   mixed proxy on 127.0.0.1:LPORT → server :SPORT
// (`ferry connect` is the same client; this file avoids depending on how the CLI is wired.)
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const dist = process.env.FERRY_DIST ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/src');
const { startGateway } = await import(`${dist}/server/gateway.js`);
const { silentLogger } = await import(`${dist}/core/logger.js`);
const [role, method, secret, port, lport] = process.argv.slice(2);
let gw;
if (role === 'server') {
  gw = await startGateway(
    {
      inbounds: [{ name: 'ss', type: 'shadowsocks', listen: `127.0.0.1:${port}`, shadowsocks: { method, password: secret } }],
      router: { allow_destinations: ['127.0.0.1/32'] },
      timeouts: { idle: 600 },
    },
    { log: silentLogger() },
  );
} else if (role === 'client') {
  gw = await startGateway(
    {
      inbounds: [{ name: 'local', type: 'mixed', listen: `127.0.0.1:${lport}`, auth: false }],
      outbounds: [{ name: 'ss', type: 'shadowsocks', server: `127.0.0.1:${port}`, method, password: secret }],
      router: { default: 'ss' },
      timeouts: { idle: 600 },
    },
    { log: silentLogger() },
  );
} else {
  console.error('usage: ferry-pair.mjs server|client METHOD SECRET PORT [LPORT]');
  process.exit(2);
}
const stop = () => gw.close(1000).then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
