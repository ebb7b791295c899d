// SIP002 links: the forms clients print, parsed; Ferry's links, in the form each edition requires.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSsUri, parseSsUri } from '../../../src/share/ss-uri.js';

describe('SIP002 ss:// links', () => {
  it('parses base64 userinfo (AEAD), with plugin and tag', () => {
    // userinfo = base64url("aes-256-gcm:test") — the SIP002 example form
    const l = parseSsUri(
      'ss://YWVzLTI1Ni1nY206dGVzdA@192.168.100.1:8888/?plugin=obfs-local%3Bobfs%3Dhttp#Example2',
    );
    assert.deepEqual(l, {
      method: 'aes-256-gcm',
      password: 'test',
      host: '192.168.100.1',
      port: 8888,
      tag: 'Example2',
      plugin: 'obfs-local;obfs=http',
    });
  });

  it('parses percent-encoded 2022 userinfo and IPv6 hosts (SIP022 URL examples)', () => {
    const a = parseSsUri('ss://2022-blake3-aes-128-gcm:5mOQSa20Kt6ay2LXruBoHQ%3D%3D@example.com:443/#name');
    assert.deepEqual(a, {
      method: '2022-blake3-aes-128-gcm',
      password: '5mOQSa20Kt6ay2LXruBoHQ==',
      host: 'example.com',
      port: 443,
      tag: 'name',
    });
    const b = parseSsUri(
      'ss://2022-blake3-aes-256-gcm:t7XRzLCvgsH4r4r669cyqPnVNFG2c%2FHC5Tt%2BMjINJB0%3D@[2001:db8:1f74:3c86:aef9:a75:5d2a:425e]:20220/#name',
    );
    assert.equal(b.host, '2001:db8:1f74:3c86:aef9:a75:5d2a:425e');
    assert.equal(b.password, 't7XRzLCvgsH4r4r669cyqPnVNFG2c/HC5Tt+MjINJB0=');
  });

  it('parses the legacy all-base64 form', () => {
    const body = Buffer.from('chacha20-ietf-poly1305:pa:ss@10.0.0.2:8388').toString('base64');
    assert.deepEqual(parseSsUri(`ss://${body}#old`), {
      method: 'chacha20-ietf-poly1305',
      password: 'pa:ss',
      host: '10.0.0.2',
      port: 8388,
      tag: 'old',
    });
  });

  it('formats AEAD as base64url and 2022 percent-encoded, and round-trips', () => {
    const aead = formatSsUri({
      method: 'aes-128-gcm',
      password: 'p@ss:word/+',
      host: 'vpn.example',
      port: 8388,
      tag: 'my server',
    });
    assert.match(aead, /^ss:\/\/[A-Za-z0-9_-]+@vpn\.example:8388#my%20server$/);
    assert.deepEqual(parseSsUri(aead), {
      method: 'aes-128-gcm',
      password: 'p@ss:word/+',
      host: 'vpn.example',
      port: 8388,
      tag: 'my server',
    });
    const eih = 'AAAAAAAAAAAAAAAAAAAAAA==:AQEBAQEBAQEBAQEBAQEBAQ==';
    const s2022 = formatSsUri({ method: '2022-blake3-aes-128-gcm', password: eih, host: '::1', port: 9000 });
    assert.equal(
      s2022,
      'ss://2022-blake3-aes-128-gcm:AAAAAAAAAAAAAAAAAAAAAA%3D%3D%3AAQEBAQEBAQEBAQEBAQEBAQ%3D%3D@[::1]:9000',
    );
    assert.deepEqual(parseSsUri(s2022), {
      method: '2022-blake3-aes-128-gcm',
      password: eih,
      host: '::1',
      port: 9000,
    });
  });

  it('refuses what it cannot use, without echoing secrets', () => {
    assert.throws(() => parseSsUri('http://x'), /must start with ss:\/\//);
    assert.throws(
      () => parseSsUri('ss://rc4-md5:secretpw@h:1'),
      (e: Error) => /unknown Shadowsocks method/.test(e.message) && !e.message.includes('secretpw'),
    );
    assert.throws(() => parseSsUri('ss://YWVzLTI1Ni1nY206dGVzdA@host'), /host:port/);
  });
});
