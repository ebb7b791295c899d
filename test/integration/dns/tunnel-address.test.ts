// The forwarder on a tunnel-style address that does not exist yet when it starts: it keeps retrying
// the bind (EADDRNOTAVAIL) until the address is configured, then answers dig over UDP and TCP on port 53.
// Runs in a network namespace so port 53 and the address belong to the test alone.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Netns, veth } from '../../helpers/netns.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { start, type Proc } from '../../helpers/proc.js';
import { waitFor } from '../../helpers/wait.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'tunnel-child.js');
const TUNNEL_ADDRESS = '10.99.0.1';
const TUNNEL6_ADDRESS = 'fd99::1';
const TUNNEL_SUBNETS = '10.99.0.0/24,fd99::/64';
const CLIENT_ADDRESSES = ['10.99.0.2/24', 'fd99::2/64'];

let ns: Netns | undefined;
let client: Netns | undefined;
let child: Proc | undefined;
after(async () => {
  await child?.kill();
  ns?.destroy();
  client?.destroy();
});

it('binds to the tunnel addresses once they appear and serves dig on them', async (t) => {
  if (!requirePrereqs(t, { root: true, tools: ['dig', 'ip'] })) return;
  // The server's side of the link has no address yet: it stands in for a TUN device being set up.
  ns = new Netns('dnss');
  client = new Netns('dnsc');
  const { aIf } = veth(ns, [], client, CLIENT_ADDRESSES);
  const listen = `${TUNNEL_ADDRESS},${TUNNEL6_ADDRESS}`;
  child = start('ip', ns.wrap([process.execPath, CHILD, listen, TUNNEL_SUBNETS, 'leak.test']));
  await waitFor(
    'the forwarder to start binding',
    () => child!.output().includes('binding\n') || child!.child.exitCode !== null,
  );
  assert.equal(child.child.exitCode, null, child.output());
  assert.ok(!child.output().includes('ready'), 'it cannot be ready before its addresses exist');
  ns.ip(['addr', 'add', `${TUNNEL_ADDRESS}/24`, 'dev', aIf]);
  ns.ip(['addr', 'add', `${TUNNEL6_ADDRESS}/64`, 'dev', aIf, 'nodad']);
  await waitFor(
    'the forwarder to bind',
    () => child!.output().includes('ready') || child!.child.exitCode !== null,
    {
      timeoutMs: 20_000,
    },
  );
  const ready = /ready (.*)\n/.exec(child.output());
  assert.ok(ready, child.output());
  assert.deepEqual(JSON.parse(ready[1]!), [
    { host: TUNNEL_ADDRESS, port: 53 },
    { host: TUNNEL6_ADDRESS, port: 53 },
  ]);

  const dig = (netns: Netns, args: string[]): string =>
    netns.exec(['dig', ...args, 'abc.leak.test', 'TXT', '+tries=1', '+time=5']);
  const refused = dig(ns, [`@${TUNNEL_ADDRESS}`, '-b', '127.0.0.1']);
  assert.match(refused, /status: REFUSED/, 'a source outside the tunnel subnets is refused');
  for (const server of [TUNNEL_ADDRESS, TUNNEL6_ADDRESS]) {
    for (const extra of [[], ['+tcp']]) {
      const out = dig(client, [`@${server}`, '+short', ...extra]);
      // The whoami upstream, on the namespace's loopback, reports the forwarder's source address.
      assert.equal(out.trim(), '"127.0.0.1"', `${server} ${extra.join(' ')}: ${out}`);
    }
  }
});
