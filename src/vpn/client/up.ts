// `ferry up`: executes the plan (plan.ts) step by step, saving after each step what undoes it, so that
// a failure half-way leaves nothing behind except - deliberately - the kill switch, and `ferry down`
// can always finish the job.
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { fileURLToPath } from 'node:url';
import { isIP } from 'node:net';
import { parseWgConfig, configToUapi, type WgConfig } from '../../wireguard/io/wg-config.js';
import { uapiSet } from '../../wireguard/uapi/client.js';
import { socketPath } from '../../wireguard/uapi/server.js';
import { formatEndpoint } from '../../wireguard/uapi/protocol.js';
import { planUp, autoMtu, expandHook, type Step } from './plan.js';
import { setDns } from './dns.js';
import type { EndpointAddr } from './kill-switch.js';
import { claimState, loadState, logPath, removeState, saveState, type UpState } from './state.js';
import { System, type Echo } from './system.js';
import { undoAll } from './down.js';

export const FERRY_WG = fileURLToPath(new URL('../../cli/ferry-wg.js', import.meta.url));

export interface UpOptions {
  ifname: string;
  configPath: string;
  /** undefined: KillSwitch from the config (default off). */
  killSwitch?: boolean | undefined;
  allowLan?: boolean | undefined;
  echo: Echo;
}

/** Splits `host:port` / `[v6]:port` and resolves the host (wg(8) resolves before talking UAPI). */
export async function resolveEndpoint(text: string): Promise<EndpointAddr> {
  const colon = text.lastIndexOf(':');
  let host = text.slice(0, colon);
  const port = Number(text.slice(colon + 1));
  if (host.startsWith('[')) host = host.slice(1, -1);
  const address = isIP(host) ? host : (await lookup(host)).address;
  return { address, port };
}

/** wg-quick's table search: the first table from 51820 up with no routes of either family. */
function freeTable(sys: System): number {
  let t = 51820;
  while (
    sys.query(['ip', '-4', 'route', 'show', 'table', String(t)]).trim() ||
    sys.query(['ip', '-6', 'route', 'show', 'table', String(t)]).trim()
  )
    t++;
  return t;
}

/** MTU of the route to `address`: the route's own mtu, else its device's (wg-quick set_mtu_up). */
function routeMtu(sys: System, routeOutput: string): number {
  const m = /\bmtu (\d+)/.exec(routeOutput);
  if (m) return Number(m[1]);
  const dev = /\bdev (\S+)/.exec(routeOutput);
  if (!dev) return 0;
  const link = /\bmtu (\d+)/.exec(sys.query(['ip', 'link', 'show', 'dev', dev[1]!]));
  return link ? Number(link[1]) : 0;
}

export async function up(opts: UpOptions): Promise<UpState> {
  const { ifname, echo } = opts;
  const sys = new System(echo);
  const cfg: WgConfig = parseWgConfig(readFileSync(opts.configPath, 'utf8'));
  if (loadState(ifname)) throw new Error(`${ifname} is already up (ferry down ${ifname} first)`);
  if (sys.query(['ip', 'link', 'show', 'dev', ifname])) throw new Error(`\`${ifname}' already exists`);
  if (!cfg.privateKey) throw new Error(`${opts.configPath}: [Interface] has no PrivateKey`);

  const resolved = new Map<string, string>();
  const endpoints: EndpointAddr[] = [];
  for (const p of cfg.peers) {
    if (!p.endpoint) continue;
    const e = await resolveEndpoint(p.endpoint);
    resolved.set(p.endpoint, formatEndpoint(e));
    endpoints.push(e);
  }
  const killSwitch = opts.killSwitch ?? cfg.quick.killSwitch ?? false;
  const allowLan = opts.allowLan ?? false;
  const plan = planUp(cfg, { ifname, killSwitch, allowLan, endpoints, freeTable: freeTable(sys) });

  const state: UpState = {
    version: 1,
    ifname,
    config: opts.configPath,
    killSwitch,
    allowLan,
    fwmark: plan.fwmark,
    tunnelled: plan.tunnelled,
    blocked: plan.blocked,
    dns: cfg.quick.dns,
    endpoints,
    daemonPid: null,
    preDown: cfg.quick.preDown,
    postDown: cfg.quick.postDown,
    undo: [],
  };
  claimState(state);
  try {
    for (const step of plan.steps) await execute(step, { sys, cfg, state, resolved, endpoints });
  } catch (e) {
    echo(`[!] ${(e as Error).message}`);
    const kept = state.undo.filter((u) => u.kind === 'nft-table' && u.killSwitch);
    state.undo = state.undo.filter((u) => !kept.includes(u));
    undoAll(state, sys);
    if (kept.length > 0) {
      // Failing open would defeat the kill switch's purpose: it stays until `ferry down`.
      state.undo = kept;
      state.preDown = [];
      state.postDown = [];
      saveState(state);
      echo(`[!] the kill switch stays in place; \`ferry down ${ifname}' removes it`);
    } else removeState(ifname);
    throw e;
  }
  return state;
}

interface Ctx {
  sys: System;
  cfg: WgConfig;
  state: UpState;
  resolved: Map<string, string>;
  endpoints: EndpointAddr[];
}

async function execute(step: Step, c: Ctx): Promise<void> {
  const { sys, state } = c;
  const ifname = state.ifname;
  switch (step.kind) {
    case 'hook':
      sys.hook(expandHook(step.command, ifname));
      return;
    case 'nft':
      sys.run(['nft', '-f', '-'], { input: step.script });
      state.undo.push({
        kind: 'nft-table',
        family: step.family,
        table: step.table,
        killSwitch: step.keepOnFailure,
      });
      break;
    case 'daemon': {
      const pid = await startDaemon(sys, ifname);
      state.daemonPid = pid;
      state.undo.push({ kind: 'link', pid });
      break;
    }
    case 'configure': {
      // `wg setconf` through the UAPI socket; with a default route the fwmark goes in the same
      // transaction (wg-quick's `wg set <if> fwmark <table>`), before any peer can send.
      const fwmark = step.fwmark ?? c.cfg.fwmark;
      sys.say(`[#] wg setconf ${ifname} <config>${fwmark ? ` (fwmark ${fwmark})` : ''}`);
      await uapiSet(ifname, configToUapi({ ...c.cfg, fwmark }, c.resolved));
      return;
    }
    case 'address':
      sys.run([
        'ip',
        `-${step.cidr.includes(':') ? 6 : 4}`,
        'address',
        'add',
        step.cidr,
        'dev',
        ifname,
        ...(step.cidr.includes(':') ? ['nodad'] : []),
      ]);
      return;
    case 'mtu': {
      let mtu: number;
      if (step.mtu === 'auto') {
        const mtus = c.endpoints.map((e) => routeMtu(sys, sys.query(['ip', 'route', 'get', e.address])));
        if (!mtus.some((m) => m > 0))
          mtus.push(routeMtu(sys, sys.query(['ip', 'route', 'show', 'default']).split('\n')[0] ?? ''));
        mtu = autoMtu(mtus);
      } else mtu = step.mtu;
      sys.run(['ip', 'link', 'set', 'mtu', String(mtu), 'up', 'dev', ifname]);
      return;
    }
    case 'dns':
      sys.say(`[#] set DNS ${[...step.nameservers, ...step.search].join(' ')}`);
      state.undo.push({ kind: 'dns', dns: setDns(ifname, step.nameservers, step.search) });
      break;
    case 'sysctl':
      sys.run(['sysctl', '-q', `${step.key}=${step.value}`]);
      return;
    case 'route': {
      const fam = `-${step.cidr.includes(':') ? 6 : 4}`;
      const table = step.table !== null ? ['table', String(step.table)] : [];
      // wg-quick: skip a network a route through this interface already covers.
      if (sys.query(['ip', fam, 'route', 'show', 'dev', ifname, 'match', step.cidr, ...table]).trim()) return;
      sys.run(['ip', fam, 'route', 'add', step.cidr, 'dev', ifname, ...table]);
      return;
    }
    case 'ip':
      sys.run(['ip', ...step.args]);
      state.undo.push({ kind: 'ip', args: step.undo });
      break;
  }
  saveState(state);
}

/**
 * Starts the userspace daemon detached (as wg-quick starts wireguard-go) and waits for its UAPI
 * socket. It runs in the foreground mode of ferry-wg, with its log in the state directory, so that
 * its pid is ours to record and its errors are readable after the fact.
 */
async function startDaemon(sys: System, ifname: string): Promise<number> {
  // A socket without its interface is left over from a daemon that was killed (the case reconnect
  // exists for); the new daemon's socket must be the one we wait for.
  if (existsSync(socketPath(ifname))) rmSync(socketPath(ifname), { force: true });
  const log = openSync(logPath(ifname), 'a', 0o600);
  const impl = process.env.FERRY_UP_DAEMON; // tests/ops: a different wireguard-go-compatible daemon
  const argv = impl ? [impl, '-f', ifname] : [process.execPath, FERRY_WG, '-f', ifname];
  sys.say(`[#] ${argv.join(' ')} &`);
  const child = spawn(argv[0]!, argv.slice(1), {
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
      WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1',
    },
  });
  closeSync(log);
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  const deadline = Date.now() + 20_000;
  while (!existsSync(socketPath(ifname))) {
    if (exited !== null)
      throw new Error(
        `the WireGuard daemon exited (${exited}); see ${logPath(ifname)}: ${tail(logPath(ifname))}`,
      );
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the WireGuard daemon did not create ${socketPath(ifname)} within 20 s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  child.unref();
  return child.pid!;
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '';
  }
}

/**
 * Brings back the interface of a tunnel whose daemon died (or was cut by `ferry leaktest
 * --kill-switch-check`) while its policy rules, DNS and kill switch stayed: a new daemon, the same
 * configuration, addresses, MTU and routes. Nothing else is touched, so the kill switch never opens.
 */
export async function reconnect(ifname: string, echo: Echo): Promise<UpState> {
  const state = loadState(ifname);
  if (!state) throw new Error(`${ifname} is not up (no ferry up state for it)`);
  const sys = new System(echo);
  const cfg = parseWgConfig(readFileSync(state.config, 'utf8'));
  const resolved = new Map<string, string>();
  for (const p of cfg.peers)
    if (p.endpoint) resolved.set(p.endpoint, formatEndpoint(await resolveEndpoint(p.endpoint)));
  const plan = planUp(cfg, {
    ifname,
    killSwitch: false,
    allowLan: false,
    endpoints: state.endpoints,
    freeTable: state.fwmark ?? 51820,
  });
  // The old daemon's record goes; the route steps re-add only what died with the link.
  state.undo = state.undo.filter((u) => u.kind !== 'link');
  const revive = plan.steps.filter(
    (s) =>
      s.kind === 'daemon' ||
      s.kind === 'configure' ||
      s.kind === 'address' ||
      s.kind === 'mtu' ||
      s.kind === 'route' ||
      (s.kind === 'ip' && s.args.includes('route') && s.args.includes('dev')),
  );
  for (const step of revive) {
    if (step.kind === 'ip') {
      sys.run(['ip', ...step.args]);
      continue; // its undo is already recorded from the first `ferry up`
    }
    await execute(step, { sys, cfg, state, resolved, endpoints: state.endpoints });
  }
  saveState(state);
  return state;
}
