// The services of the small internet's "internet" namespace, run there as one process by
// small-internet.ts (`ip netns exec <ns> node small-internet-services.js ...`):
//
//   - the check origin (src/audit/check-origin.ts) on [::]:<http>, dual stack: GET /ip answers the
//     client address it sees;
//   - the whoami DNS responder (src/dns/whoami.ts) on each <dns-addr>:<dns> (UDP and TCP), which
//     answers every name under <zone> with the address of whoever asked: A (asker's IPv4), AAAA
//     (asker's IPv6), TXT (either). That is how a leak test learns which resolver actually carried its
//     query. Names outside the zone get REFUSED: it is not an open resolver.
//
// Each DNS query in the zone is written to stdout as one JSON line {"q":name,"type":..,"from":addr}
// so the test can see who asked; "ready" is printed once everything listens.
import { startCheckOrigin } from '../../src/audit/check-origin.js';
import { ASKER, startWhoamiDns } from '../../src/dns/whoami.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}

async function main(): Promise<void> {
  const origin = await startCheckOrigin({ host: '::', port: Number(arg('http', '80')) });
  const dns = await startWhoamiDns({
    // The resolver's own addresses, one socket each, so replies leave from the address asked.
    host: arg('dns-addr', '::').split(','),
    port: Number(arg('dns', '53')),
    zone: arg('zone', 'whoami.test'),
    ipv4: ASKER,
    ipv6: ASKER,
    onQuery: (q) => process.stdout.write(JSON.stringify({ q: q.name, type: q.type, from: q.from }) + '\n'),
  });
  process.stdout.write('ready\n');
  const stop = (): void => {
    void Promise.all([dns.close(), origin.close()]).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main().catch((e: unknown) => {
  process.stderr.write(`small-internet-services: ${String(e)}\n`);
  process.exit(1);
});
