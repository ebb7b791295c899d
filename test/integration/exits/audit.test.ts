// `ferry check` and `ferry audit-proxy` against real upstreams in network namespaces: an origin
// that serves one exit a different page must be flagged; squid with forwarded_for on is transparent,
// a Ferry upstream is elite, and a proxy that rewrites pages is modifying.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { skipReason } from '../../helpers/prereq.js';
import { waitFor } from '../../helpers/wait.js';
import type { CheckRow } from '../../../src/cli/check.js';
import type { AuditReport } from '../../../src/cli/audit-proxy.js';
import {
  ALL_EXITS,
  buildTopology,
  exitNeeds,
  exitOutbounds,
  FERRY,
  ORIGIN,
  UP_PASS,
  UP_USER,
  type Topology,
} from './topology.js';

const KINDS = ALL_EXITS;
const SELF_SIGNED_JS = fileURLToPath(new URL('../../../src/tls/self-signed.js', import.meta.url));

const needs = exitNeeds(KINDS);

/**
 * A hostile HTTP proxy: it injects a script into every page it forwards, and it intercepts TLS in
 * CONNECT tunnels to port 443 with a certificate of its own (argv: listen address, self-signed.js).
 */
const REWRITER = `
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
const { generateSelfSigned } = await import(process.argv[2]);
const mitm = generateSelfSigned({ commonName: 'totally the origin', hosts: ['localhost'] });
const server = http.createServer((req, res) => {
  const u = new URL(req.url);
  const headers = { ...req.headers };
  delete headers['proxy-authorization'];
  delete headers['proxy-connection'];
  const up = http.request({ host: u.hostname, port: u.port || 80, path: u.pathname + u.search, method: req.method, headers }, (r) => {
    const chunks = [];
    r.on('data', (c) => chunks.push(c));
    r.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8').replace('</body>', '<script src="http://ads.invalid/x.js"></script></body>');
      const h = { ...r.headers, 'content-length': Buffer.byteLength(body) };
      delete h['transfer-encoding'];
      res.writeHead(r.statusCode, h);
      res.end(body);
    });
  });
  up.on('error', () => { res.writeHead(502); res.end(); });
  req.pipe(up);
});
server.on('connect', (req, sock) => {
  const i = req.url.lastIndexOf(':');
  const port = Number(req.url.slice(i + 1));
  const host = req.url.slice(0, i);
  sock.on('error', () => {});
  if (port === 443) {
    sock.write('HTTP/1.1 200 Connection established\\r\\n\\r\\n');
    const client = new tls.TLSSocket(sock, { isServer: true, cert: mitm.certPem, key: mitm.keyPem });
    const up = tls.connect({ host, port, rejectUnauthorized: false });
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.pipe(up);
    up.pipe(client);
    return;
  }
  const up = net.connect(port, host, () => {
    sock.write('HTTP/1.1 200 Connection established\\r\\n\\r\\n');
    up.pipe(sock);
    sock.pipe(up);
  });
  up.on('error', () => sock.destroy());
  sock.on('error', () => up.destroy());
});
server.listen(8080, process.argv[1], () => console.log('ready'));
`;

describe('ferry check and ferry audit-proxy', { skip: skipReason(needs) }, () => {
  let topo: Topology;
  let config: string;

  before(async () => {
    // The origin serves exit 2 (tinyproxy, 10.60.2.2) a different /known page: "blocked".
    topo = await buildTopology(KINDS, {
      variants: { '10.60.2.2': '<html>blocked</html>' },
    });
    config = join(topo.dir, 'check.json');
    writeFileSync(
      config,
      JSON.stringify({
        inbounds: [{ name: 'h', type: 'http', listen: '127.0.0.1:0' }],
        outbounds: [
          ...exitOutbounds(KINDS, ['squid', 'tiny', 'dante', 'ferry']),
          {
            name: 'world',
            type: 'pool',
            members: [
              { outbound: 'squid', tags: { region: 'eu' } },
              { outbound: 'tiny', tags: { region: 'eu' } },
              { outbound: 'dante', tags: { region: 'us' } },
              { outbound: 'ferry', tags: { region: 'us' } },
            ],
          },
        ],
      }),
    );
    const dante = topo.exits.find((e) => e.kind === 'danted')!;
    const p = topo.spawn(dante.ns, [
      'node',
      '--input-type=module',
      '-e',
      REWRITER,
      dante.server,
      SELF_SIGNED_JS,
    ]);
    await waitFor(
      'the rewriting proxy',
      () =>
        p.output().includes('ready') ||
        (p.child.exitCode !== null ? Promise.reject(new Error(p.output())) : false),
    );
  });
  after(async () => {
    await topo?.destroy();
  });

  const ferry = async (args: string[]): Promise<{ code: number | null; out: string; err: string }> => {
    const r = await topo.inGw(['node', FERRY, ...args], 60_000);
    return { code: r.code, out: r.stdout, err: r.stderr };
  };

  it('ferry check flags the exit that gets different content, and names every exit address', async () => {
    const r = await ferry([
      'check',
      '-c',
      config,
      '--ip-url',
      `http://${ORIGIN}/ip`,
      '--json',
      `http://${ORIGIN}/known`,
    ]);
    assert.equal(r.code, 1, 'a differing exit makes the exit status non-zero');
    const rows = JSON.parse(r.out) as CheckRow[];
    assert.equal(rows.length, 4);
    for (const row of rows) {
      assert.equal(row.error, null, `${row.exit}: ${row.error}`);
      assert.equal(row.status, 200);
      const exit = topo.exits[['squid', 'tiny', 'dante', 'ferry'].indexOf(row.exit)]!;
      assert.equal(row.exitIp, exit.egress);
      assert.equal(row.differs, row.exit === 'tiny', `${row.exit} differs=${row.differs}`);
    }
    const table = await ferry(['check', '-c', config, `http://${ORIGIN}/known`]);
    assert.match(table.out, /^tiny\s.*DIFFERS$/m);
    assert.match(table.out, /^squid\s.*same$/m);
  });

  it('ferry check --region limits the exits; https shows the certificate', async () => {
    const r = await ferry(['check', '-c', config, '--region', 'us', '-k', '--json', `https://${ORIGIN}/ip`]);
    assert.equal(r.code, 0, r.err);
    const rows = JSON.parse(r.out) as CheckRow[];
    assert.deepEqual(
      rows.map((x) => x.exit),
      ['dante', 'ferry'],
    );
    for (const row of rows) {
      assert.match(row.tlsSubject ?? '', /CN=ferry check origin/);
      assert.equal(row.differs, null, 'two exits, two different /ip answers: there is no majority');
    }
  });

  async function audit(url: string): Promise<AuditReport> {
    const r = await ferry(['audit-proxy', url, '--origin', `${ORIGIN}:80`, '--origin-tls', '443', '--json']);
    assert.ok(r.out, r.err);
    return JSON.parse(r.out) as AuditReport;
  }

  it('audit-proxy: squid with forwarded_for on is transparent', async () => {
    const rep = await audit('http://10.50.1.2:3128');
    assert.deepEqual(rep.errors, []);
    assert.equal(rep.anonymity, 'transparent');
    assert.ok(
      rep.revealing.some((h) => /^X-Forwarded-For: .*10\.50\.1\.1/i.test(h)),
      rep.revealing.join('; '),
    );
    assert.equal(rep.exitAddress, '10.60.1.2');
    assert.equal(rep.modifiesBodies, false);
    assert.equal(rep.interceptsTls, false);
  });

  it('audit-proxy: a Ferry upstream is elite, over HTTP and SOCKS5', async () => {
    for (const url of [
      `http://${UP_USER}:${UP_PASS}@10.50.4.2:1080`,
      `socks5://${UP_USER}:${UP_PASS}@10.50.4.2:1080`,
    ]) {
      const rep = await audit(url);
      assert.deepEqual(rep.errors, [], url);
      assert.equal(rep.anonymity, 'elite', `${url}: ${rep.revealing.join('; ')}`);
      assert.deepEqual(rep.headersAdded, [], url);
      assert.equal(rep.modifiesBodies, false);
      assert.equal(rep.interceptsTls, false);
      assert.equal(rep.exitAddress, '10.60.4.2');
    }
  });

  it('audit-proxy: a proxy that rewrites pages is modifying, and its TLS interception is caught', async () => {
    const rep = await audit('http://10.50.3.2:8080');
    assert.deepEqual(rep.errors, []);
    assert.equal(rep.modifiesBodies, true);
    assert.equal(rep.interceptsTls, true);
    const text = await ferry([
      'audit-proxy',
      'http://10.50.3.2:8080',
      '--origin',
      `${ORIGIN}:80`,
      '--origin-tls',
      '443',
    ]);
    assert.equal(text.code, 1);
    assert.match(text.out, /bodies: +MODIFIED/);
    assert.match(text.out, /TLS: +INTERCEPTED/);
  });
});
