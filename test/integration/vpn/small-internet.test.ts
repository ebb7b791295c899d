// The small internet itself: routing through the ISP, the origin's view of the client, whoami DNS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSmallInternet, resolveTxtIn } from '../../helpers/small-internet.js';
import { requirePrereqs } from '../../helpers/prereq.js';
import { runAsync } from '../../helpers/proc.js';

test('small internet: the origin sees the client directly; whoami DNS names the asker', async (t) => {
  if (!requirePrereqs(t, { root: true, tools: ['ip', 'curl'] })) return;
  const net = await buildSmallInternet();
  t.after(() => net.cleanup());
  const v4 = await runAsync('ip', net.client.wrap(['curl', '-sS', '--max-time', '10', net.origin.url4]));
  assert.equal(v4.stdout.trim(), net.addrs.client4, v4.stderr);
  const v6 = await runAsync('ip', net.client.wrap(['curl', '-sS', '--max-time', '10', net.origin.url6]));
  assert.equal(v6.stdout.trim(), net.addrs.client6, v6.stderr);
  assert.deepEqual(await resolveTxtIn(net.client, `abc.${net.dns.zone}`), [net.addrs.client4]);
  assert.ok(net.dns.queries().some((q) => q.q === `abc.${net.dns.zone}` && q.from === net.addrs.client4));
});
