// Certificate and key for an HTTPS inbound: from the configured files, or a self-signed pair kept in
// the data directory (generated on first use, reused afterwards so clients can keep pinning it).
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../core/errors.js';
import { generateSelfSigned } from '../tls/self-signed.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  fingerprint256: string;
  generated: boolean;
  certFile: string;
}

export function loadTlsMaterial(opts: {
  cert?: string;
  key?: string;
  dataDir: string;
  inbound: string;
  hosts: string[];
}): TlsMaterial {
  if (opts.cert && opts.key) {
    try {
      const cert = readFileSync(opts.cert, 'utf8');
      const key = readFileSync(opts.key, 'utf8');
      return {
        cert,
        key,
        fingerprint256: new X509Certificate(cert).fingerprint256,
        generated: false,
        certFile: opts.cert,
      };
    } catch (e) {
      throw new FerryError(
        'E_CONFIG',
        `inbound ${opts.inbound}: cannot load TLS certificate/key: ${(e as Error).message}`,
      );
    }
  }
  const dir = join(opts.dataDir, 'tls');
  const certFile = join(dir, `${opts.inbound}.crt`);
  const keyFile = join(dir, `${opts.inbound}.key`);
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    return {
      cert,
      key: readFileSync(keyFile, 'utf8'),
      fingerprint256: new X509Certificate(cert).fingerprint256,
      generated: false,
      certFile,
    };
  }
  const ss = generateSelfSigned({ hosts: opts.hosts });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, ss.keyPem, { mode: 0o600 });
  writeFileSync(certFile, ss.certPem, { mode: 0o644 });
  return { cert: ss.certPem, key: ss.keyPem, fingerprint256: ss.fingerprint256, generated: true, certFile };
}
