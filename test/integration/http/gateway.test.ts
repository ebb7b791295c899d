// The HTTP handler as the gateway assembles it from a configuration: an `http` and an `https`
// inbound with users, so the config → context → handler wiring is exercised end to end.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type Gateway } from '../../../src/server/gateway.js';
import { skipReason } from '../../helpers/prereq.js';
import { curl, makeCert, startHttpOrigin, type Origin, type TempCert } from './harness.js';

describe('http proxy: through startGateway', { skip: skipReason({ tools: ['curl', 'openssl'] }) }, () => {
  let gw: Gateway;
  let origin: Origin;
  let cert: TempCert;

  before(async () => {
    cert = makeCert();
    origin = await startHttpOrigin((req, res) => res.end(`gw ${req.url} via=${req.headers.via ?? '-'}`));
    gw = await startGateway(
      {
        users: [{ name: 'alice', password: 'pw-for-gw' }],
        inbounds: [
          { name: 'h', type: 'http', listen: '127.0.0.1:0', auth: true, http: { via: true } },
          {
            name: 's',
            type: 'https',
            listen: '127.0.0.1:0',
            auth: true,
            tls: { cert: cert.certFile, key: cert.keyFile },
          },
        ],
        outbounds: [{ name: 'direct', type: 'direct' }],
        router: { default: 'direct', allow_destinations: ['127.0.0.0/8', '::1/128'], rules: [] },
        timeouts: { handshake: 5, connect: 5, idle: 30 },
      },
      { dataDir: cert.dir },
    );
  });
  after(async () => {
    await gw?.close(0);
    await origin?.close();
    cert?.cleanup();
  });

  it('serves the http inbound with auth and the configured Via', async () => {
    const { port } = gw.address('h');
    const url = `http://127.0.0.1:${origin.port}/x`;
    const denied = await curl([
      '-x',
      `http://127.0.0.1:${port}`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      url,
    ]);
    assert.equal(denied.stdout, '407');
    const ok = await curl(['-x', `http://127.0.0.1:${port}`, '--proxy-user', 'alice:pw-for-gw', url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'gw /x via=1.1 ferry');
  });

  it('serves the https inbound (TLS to the proxy), absolute-form and CONNECT', async () => {
    const { port } = gw.address('s');
    const px = [
      '-x',
      `https://127.0.0.1:${port}`,
      '--proxy-cacert',
      cert.certFile,
      '--proxy-user',
      'alice:pw-for-gw',
    ];
    const a = await curl([...px, `http://127.0.0.1:${origin.port}/a`]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, 'gw /a via=-');
    const b = await curl([...px, '--proxytunnel', `http://127.0.0.1:${origin.port}/b`]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, 'gw /b via=-');
  });
});
