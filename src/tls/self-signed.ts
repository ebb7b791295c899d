// Generates a self-signed ECDSA P-256 certificate for the HTTPS proxy listener, in Node alone (no
// openssl binary): an X.509 v3 certificate per RFC 5280 with subjectAltName entries for the names
// and addresses the proxy is reached by. Clients pin it (curl --proxy-cacert) or trust it by its
// SHA-256 fingerprint, which Ferry prints.
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { parseIp } from '../net/cidr.js';
import { bits, bool, explicit, implicit, octets, oid, seq, set, time, uint, utf8 } from './der.js';

const OID = {
  ecdsaWithSHA256: '1.2.840.10045.4.3.2', // RFC 5758 §3.2
  commonName: '2.5.4.3',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

export interface SelfSigned {
  certPem: string;
  keyPem: string;
  fingerprint256: string;
}

export function generateSelfSigned(opts: {
  commonName?: string;
  hosts: string[];
  days?: number;
  now?: Date;
}): SelfSigned {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - 60_000); // tolerate small clock skew
  const notAfter = new Date(now.getTime() + (opts.days ?? 825) * 86_400_000);
  const name = seq(set(seq(oid(OID.commonName), utf8(opts.commonName ?? 'ferry proxy'))));
  const algo = seq(oid(OID.ecdsaWithSHA256));
  const sans = opts.hosts.map((h) => {
    if (isIP(h)) return implicit(7, Buffer.from(parseIp(h)!));
    return implicit(2, Buffer.from(h, 'ascii'));
  });
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const ext = (id: string, critical: boolean, value: Buffer): Buffer =>
    critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
  const extensions = seq(
    // CA:TRUE so that clients can use the certificate itself as the trust anchor they pin.
    ext(OID.basicConstraints, true, seq(bool(true))),
    // digitalSignature (bit 0) and keyCertSign (bit 5): 0b10000100, 2 unused bits.
    ext(OID.keyUsage, true, Buffer.from([0x03, 0x02, 0x02, 0x84])),
    ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
    ext(OID.subjectAltName, false, seq(...sans)),
  );
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const tbs = seq(
    explicit(0, uint(Buffer.from([2]))), // v3
    uint(serial),
    algo,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey); // DER-encoded ECDSA-Sig-Value
  const der = seq(tbs, algo, bits(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const x = new X509Certificate(certPem);
  if (!x.checkPrivateKey(privateKey)) throw new Error('generated certificate does not match its key');
  return { certPem, keyPem, fingerprint256: x.fingerprint256 };
}
