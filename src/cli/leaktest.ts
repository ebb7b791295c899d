// `ferry leaktest`: exit IP (v4, v6), DNS and (opt-in) kill-switch checks of the tunnel `ferry up`
// brought up. Exit status 0 when nothing leaked, 1 when a check failed.
import type { Command } from 'commander';
import { runLeakTest, formatReport, type CheckResult } from '../audit/leaktest.js';
import { checkKillSwitch } from '../audit/kill-switch-check.js';
import { listStates, loadState, type UpState } from '../vpn/client/state.js';
import { reconnect } from '../vpn/client/up.js';

interface LeakTestCliOptions {
  origin?: string;
  origin6?: string;
  expectExit: string[];
  dnsZone?: string;
  interface?: string;
  killSwitchCheck?: boolean;
  reconnect: boolean;
  json?: boolean;
  timeout: string;
}

function pickTunnel(name: string | undefined): UpState | null {
  if (name) {
    const s = loadState(name);
    if (!s) throw new Error(`${name} was not brought up by ferry up (no state for it)`);
    return s;
  }
  const all = listStates();
  if (all.length > 1)
    throw new Error(
      `several tunnels are up (${all.map((s) => s.ifname).join(', ')}): choose one with --interface`,
    );
  return all[0] ?? null;
}

export function registerLeakTest(program: Command): void {
  program
    .command('leaktest')
    .description('check that traffic leaves only through the tunnel: exit IP (v4/v6), DNS, kill switch')
    .option(
      '--origin <url>',
      'check origin URL answering the client address it sees (IPv4), e.g. http://vpn.example/ip',
    )
    .option('--origin6 <url>', 'the same over IPv6')
    .option(
      '--expect-exit <addr>',
      'an address the origin may see (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [],
    )
    .option(
      '--dns-zone <zone>',
      'a whoami DNS zone: each name under it answers (TXT) with the resolver that asked',
    )
    .option('--interface <ifname>', 'the tunnel to test (default: the one `ferry up` brought up)')
    .option(
      '--kill-switch-check',
      'cut the tunnel (kill its daemon) and verify nothing gets out, then reconnect',
    )
    .option('--no-reconnect', 'with --kill-switch-check: leave the tunnel cut')
    .option('--json', 'print the results as JSON')
    .option('--timeout <ms>', 'per-check timeout', '5000')
    .action(async (o: LeakTestCliOptions) => {
      const timeoutMs = Number(o.timeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
        throw new Error('--timeout must be a positive number of ms');
      const tunnel = pickTunnel(o.interface);
      const results: CheckResult[] = await runLeakTest({
        origin: o.origin,
        origin6: o.origin6,
        expectExit: o.expectExit,
        dnsZone: o.dnsZone,
        tunnel,
        timeoutMs,
      });
      if (o.killSwitchCheck) {
        if (!tunnel) throw new Error('--kill-switch-check needs a tunnel brought up by ferry up');
        const quiet = (): void => {};
        results.push(
          await checkKillSwitch({
            tunnel,
            origin: o.origin,
            origin6: o.origin6,
            dnsZone: o.dnsZone,
            timeoutMs,
            reconnect: o.reconnect ? async () => void (await reconnect(tunnel.ifname, quiet)) : null,
          }),
        );
      }
      const failed = results.some((r) => r.verdict === 'fail');
      if (o.json)
        process.stdout.write(
          JSON.stringify({ interface: tunnel?.ifname ?? null, leak: failed, results }, null, 2) + '\n',
        );
      else process.stdout.write(formatReport(results));
      process.exitCode = failed ? 1 : 0;
    });
}
