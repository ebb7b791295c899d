// A real resolver for the DNS tests: unbound serving a static zone over plain DNS (UDP and TCP), DNS over
// TLS and DNS over HTTPS (Debian's unbound is built with libnghttp2), on loopback ports, with a
// certificate for dns.test.ferry issued by a CA made for the test. It refuses every name outside the
// zone, so nothing in the test can reach the Internet.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, start, type Proc } from '../../helpers/proc.js';
import { waitForPort } from '../../helpers/wait.js';

export const ZONE = 'test.ferry';
export const SERVER_NAME = 'dns.test.ferry';
export const WWW_ADDRESS = '192.0.2.80';
/** SOA MINIMUM of the zone: NXDOMAIN answers may be cached this long (RFC 2308 §5). */
export const NEGATIVE_TTL = 30;
/** TXT strings on big.test.ferry: together far more than 1232 bytes, so UDP answers are truncated. */
export const BIG_TXT = Array.from(
  { length: 30 },
  (_, i) => `record-${String(i).padStart(2, '0')}-${'x'.repeat(50)}`,
);

export interface Unbound {
  port: number;
  tlsPort: number;
  httpsPort: number;
  caFile: string;
  dir: string;
  proc: Proc;
  stop(): Promise<void>;
}

/** A port free for TCP and UDP right now (unbound binds it a moment later). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function makeCertificates(dir: string): void {
  const p = (f: string): string => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=ferry-test-ca',
  ]);
  run('openssl', [
    'req',
    ...ec,
    '-keyout',
    p('key.pem'),
    '-out',
    p('srv.csr'),
    '-subj',
    `/CN=${SERVER_NAME}`,
  ]);
  writeFileSync(
    p('ext.cnf'),
    `subjectAltName=DNS:${SERVER_NAME}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  run('openssl', [
    'x509', '-req', '-in', p('srv.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-out', p('cert.pem'), '-days', '2', '-extfile', p('ext.cnf'),
  ]); // prettier-ignore
}

/** extraServerConf: more lines for the server: clause (forward zones go in extraConf, after it). */
export async function startUnbound(
  opts: { extraServerConf?: string[]; extraConf?: string[] } = {},
): Promise<Unbound> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-unbound-'));
  let started: Proc | undefined;
  // On any failure (certificates, unbound-checkconf, the wait for the ports): nothing is left behind.
  try {
    makeCertificates(dir);
    const [port, tlsPort, httpsPort] = [await freePort(), await freePort(), await freePort()];
    const conf = [
      'server:',
      `  interface: 127.0.0.1@${port}`,
      `  interface: 127.0.0.1@${tlsPort}`,
      `  interface: 127.0.0.1@${httpsPort}`,
      `  port: ${port}`,
      `  tls-port: ${tlsPort}`,
      `  https-port: ${httpsPort}`,
      `  tls-service-key: "${join(dir, 'key.pem')}"`,
      `  tls-service-pem: "${join(dir, 'cert.pem')}"`,
      '  http-endpoint: "/dns-query"',
      '  do-daemonize: no',
      '  chroot: ""',
      '  username: ""',
      `  directory: "${dir}"`,
      '  pidfile: ""',
      '  use-syslog: no',
      '  logfile: ""',
      '  verbosity: 1',
      '  do-ip6: no',
      '  access-control: 127.0.0.0/8 allow',
      '  module-config: "iterator"',
      '  local-zone: "." refuse',
      `  local-zone: "${ZONE}." static`,
      `  local-data: "${ZONE}. 3600 IN SOA ns.${ZONE}. hostmaster.${ZONE}. 1 3600 600 86400 ${NEGATIVE_TTL}"`,
      `  local-data: "www.${ZONE}. 300 IN A ${WWW_ADDRESS}"`,
      `  local-data: "short.${ZONE}. 2 IN A 192.0.2.2"`,
      ...BIG_TXT.map((t) => `  local-data: 'big.${ZONE}. 300 IN TXT "${t}"'`),
      ...(opts.extraServerConf ?? []).map((l) => `  ${l}`),
      ...(opts.extraConf ?? []),
      'remote-control:',
      '  control-enable: no',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'unbound.conf'), conf);
    run('unbound-checkconf', [join(dir, 'unbound.conf')]);
    const proc = start('unbound', ['-d', '-c', join(dir, 'unbound.conf')]);
    started = proc;
    try {
      for (const p of [port, tlsPort, httpsPort]) await waitForPort(p);
    } catch (e) {
      throw new Error(`unbound did not start: ${(e as Error).message}\n${proc.output()}`);
    }
    return {
      port,
      tlsPort,
      httpsPort,
      caFile: join(dir, 'ca.pem'),
      dir,
      proc,
      async stop() {
        await proc.kill();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await started?.kill();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
