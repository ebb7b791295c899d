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
const TUNNEL_SUBNET = '10.99.0.0/24';
const CLIENT_ADDRESS = '10.99.0.2';

let ns: Netns | undefined;
let client: Netns | undefined;
let child: Proc | undefined;
after(async () => {
  await child?.kill();
  ns?.destroy();
  client?.destroy();
});

it('binds to the tunnel address once it appears and serves dig on it', async (t) => {
  if (!requirePrereqs(t, { root: true, tools: ['dig', 'ip'] })) return;
  // The server's side of the link has no address yet: it stands in for a TUN device being set up.
  ns = new Netns('dnss');
  client = new Netns('dnsc');
  const { aIf } = veth(ns, [], client, `${CLIENT_ADDRESS}/24`);
  child = start('ip', ns.wrap([process.execPath, CHILD, TUNNEL_ADDRESS, TUNNEL_SUBNET, 'leak.test']));
  await waitFor(
    'the forwarder to start binding',
    () => child!.output().includes('binding\n') || child!.child.exitCode !== null,
  );
  assert.equal(child.child.exitCode, null, child.output());
  assert.ok(!child.output().includes('ready'), 'it cannot be ready before its address exists');
  ns.ip(['addr', 'add', `${TUNNEL_ADDRESS}/24`, 'dev', aIf]);
  await waitFor(
    'the forwarder to bind',
    () => child!.output().includes('ready') || child!.child.exitCode !== null,
    {
      timeoutMs: 20_000,
    },
  );
  assert.match(
    child.output(),
    new RegExp(`ready \\[\\{"host":"${TUNNEL_ADDRESS.replace(/\./g, '\\.')}","port":53\\}\\]`),
  );
  const refused = ns.exec([
    'dig',
    `@${TUNNEL_ADDRESS}`,
    '-b',
    '127.0.0.1',
    'abc.leak.test',
    '+tries=1',
    '+time=5',
  ]);
  assert.match(refused, /status: REFUSED/, 'a source outside the tunnel subnet is refused');
  for (const extra of [[], ['+tcp']]) {
    const out = ns.exec([
      'dig',
      `@${TUNNEL_ADDRESS}`,
      'abc.leak.test',
      'TXT',
      '+short',
      '+tries=1',
      '+time=5',
      ...extra,
    ]);
    // The whoami upstream reports the forwarder's own source address towards it.
    assert.equal(out.trim(), '"127.0.0.1"', out);
  }
});
