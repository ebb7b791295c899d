// `ferry leaktest --kill-switch-check`: cut the tunnel the way a crash would (SIGKILL to its daemon,
// which takes the interface with it) and check that nothing gets out while it is down: every probe
// must fail, and the kill switch's drop counter shows the packets it stopped. Then the tunnel is
// brought back (`reconnect`) unless the caller says not to.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { killSwitchTableName, DROP_COUNTER } from '../vpn/client/kill-switch.js';
import type { UpState } from '../vpn/client/state.js';
import { fetchText, whoamiDns, type CheckResult } from './leaktest.js';

export interface KillSwitchCheckOptions {
  tunnel: UpState;
  origin?: string | undefined;
  origin6?: string | undefined;
  dnsZone?: string | undefined;
  timeoutMs: number;
  /** Called after the probes to bring the tunnel back (null: leave it cut). */
  reconnect: (() => Promise<void>) | null;
}

/** Packets the kill switch has dropped, or null when there is no kill switch table. */
export function killSwitchDrops(ifname: string): number | null {
  try {
    const out = execFileSync(
      'nft',
      ['-j', 'list', 'counter', 'inet', killSwitchTableName(ifname), DROP_COUNTER],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const j = JSON.parse(out) as { nftables: { counter?: { packets: number } }[] };
    const c = j.nftables.find((e) => e.counter)?.counter;
    return c ? c.packets : null;
  } catch {
    return null;
  }
}

function linkExists(ifname: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', 'dev', ifname], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function checkKillSwitch(o: KillSwitchCheckOptions): Promise<CheckResult> {
  const check = 'kill switch';
  const t = o.tunnel;
  if (!o.origin && !o.origin6 && !o.dnsZone)
    return { check, verdict: 'skip', detail: 'needs --origin, --origin6 or --dns-zone to probe with' };
  const before = killSwitchDrops(t.ifname);
  const pid = t.daemonPid;
  let ours = false;
  try {
    ours = pid !== null && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(t.ifname);
  } catch {
    /* not running */
  }
  if (ours) process.kill(pid!, 'SIGKILL');
  for (let i = 0; i < 250 && linkExists(t.ifname); i++) await delay(20);
  if (linkExists(t.ifname))
    return { check, verdict: 'fail', detail: `could not cut the tunnel: ${t.ifname} is still there` };

  const escaped: string[] = [];
  const probeMs = Math.min(o.timeoutMs, 3000);
  const probes: Promise<void>[] = [];
  for (const [url, fam] of [
    [o.origin, 4],
    [o.origin6, 6],
  ] as const) {
    if (!url) continue;
    probes.push(
      fetchText(url, probeMs, fam).then((r) => {
        if (!(r instanceof Error)) escaped.push(`${url} answered (sees ${r})`);
      }),
    );
  }
  if (o.dnsZone)
    probes.push(
      whoamiDns(o.dnsZone, probeMs).then((r) => {
        if (!(r instanceof Error)) escaped.push(`a DNS query got out (asked by ${r.askers.join(', ')})`);
      }),
    );
  await Promise.all(probes);
  const after = killSwitchDrops(t.ifname);
  const dropped = before !== null && after !== null ? after - before : null;
  let restored = 'left cut (--no-reconnect)';
  if (o.reconnect) {
    try {
      await o.reconnect();
      restored = 'tunnel reconnected';
    } catch (e) {
      restored = `reconnecting failed: ${(e as Error).message}; run ferry down/up`;
    }
  }
  const data = { killSwitch: before !== null, escaped, dropped };
  if (escaped.length > 0)
    return {
      check,
      verdict: 'fail',
      detail: `leak with the tunnel cut${before === null ? ' (no kill switch)' : ''}: ${escaped.join('; ')}; ${restored}`,
      data,
    };
  if (before === null)
    return {
      check,
      verdict: 'fail',
      detail: `no kill switch on ${t.ifname}, yet no probe got out; ${restored}`,
      data,
    };
  return {
    check,
    verdict: 'pass',
    detail: `tunnel cut: no probe got out, ${dropped} packet(s) dropped by ${killSwitchTableName(t.ifname)}; ${restored}`,
    data,
  };
}
