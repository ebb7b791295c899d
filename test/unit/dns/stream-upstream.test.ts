// The TCP upstream's connection handling against a server that accepts and then never answers.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { createUpstream } from '../../../src/dns/upstream/index.js';
import { waitFor } from '../../helpers/wait.js';

it('gives up a connection on which nothing came back, and opens a new one for the next query', async (t) => {
  const accepted: Socket[] = [];
  let closedByClient = 0;
  const server = createServer((s) => {
    accepted.push(s);
    s.on('error', () => {});
    s.resume(); // read and discard the queries
    s.on('end', () => closedByClient++);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  const up = createUpstream(`tcp://127.0.0.1:${port}`);
  t.after(() => up.close());
  const q = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: 'a.example' }] });
  await assert.rejects(up.query(q, 200), /did not answer in time/);
  await waitFor(
    'the silent connection to be closed',
    () => accepted[0]?.readableEnded || accepted[0]?.destroyed,
  );
  await assert.rejects(up.query(q, 200), /did not answer in time/);
  assert.equal(accepted.length, 2, 'the second query went out on a new connection');
});
