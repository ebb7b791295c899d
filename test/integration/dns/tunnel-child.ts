// Runs inside a network namespace for tunnel-address.test.ts: a whoami responder on the namespace's
// loopback as the upstream, and the forwarder on an address the test adds to the namespace only after
// this process has started binding. Prints "binding" before it binds and "ready <json>" after.
import { startDnsForwarder } from '../../../src/dns/forwarder.js';
import { startWhoamiDns } from '../../../src/dns/whoami.js';

// Arguments: listen addresses (comma-separated), allowed networks (comma-separated), zone.
const [listenHosts, allowFrom, zone] = process.argv.slice(2) as [string, string, string];
const whoami = await startWhoamiDns({ host: '127.0.0.1', port: 0, zone });
process.stdout.write('binding\n');
const forwarder = await startDnsForwarder({
  listen: listenHosts.split(',').map((host) => ({ host, port: 53 })),
  upstreams: [`udp://127.0.0.1:${whoami.port}`],
  allowFrom: allowFrom.split(','),
  bindTimeoutMs: 30_000,
});
process.stdout.write(`ready ${JSON.stringify(forwarder.addresses())}\n`);
process.on('SIGTERM', () => {
  void forwarder
    .close()
    .then(() => whoami.close())
    .then(() => process.exit(0));
});
