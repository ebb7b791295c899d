// `ferry up <config|name>` / `ferry down <ifname|config>`: the VPN client with wg-quick(8) semantics
// on Ferry's userspace WireGuard (src/vpn/client/).
import type { Command } from 'commander';
import { basename } from 'node:path';
import { existsSync } from 'node:fs';
import { up } from '../vpn/client/up.js';
import { down } from '../vpn/client/down.js';
import { validIfname } from '../vpn/client/plan.js';

/** wg-quick(8): a bare name means /etc/wireguard/<name>.conf; the interface is the file's base name. */
export function resolveConfigArg(arg: string): { path: string; ifname: string } {
  const bare = !arg.includes('/') && !arg.endsWith('.conf');
  const path = bare ? `/etc/wireguard/${arg}.conf` : arg;
  const ifname = basename(path).replace(/\.conf$/, '');
  if (!validIfname(ifname))
    throw new Error(`'${ifname}' is not a valid interface name (1-15 of a-z A-Z 0-9 _ = + . -)`);
  return { path, ifname };
}

const echo = (line: string): void => void process.stderr.write(line + '\n');

export function registerVpnCommands(program: Command): void {
  program
    .command('up')
    .description(
      'bring a WireGuard tunnel up from a wg-quick(8) config (routes, DNS, kill switch) and return',
    )
    .argument('<config>', 'a .conf path, or a name for /etc/wireguard/<name>.conf')
    .option('--kill-switch', 'drop all traffic that does not go through the tunnel (also: KillSwitch = true)')
    .option('--no-kill-switch', 'no kill switch even if the config asks for one')
    .option('--allow-lan', 'with the kill switch: still allow the local network (RFC 1918, link-local)')
    .action(async (arg: string, opts: { killSwitch?: boolean; allowLan?: boolean }) => {
      const { path, ifname } = resolveConfigArg(arg);
      if (!existsSync(path)) throw new Error(`${path} does not exist`);
      const st = await up({
        ifname,
        configPath: path,
        killSwitch: opts.killSwitch,
        allowLan: opts.allowLan,
        echo,
      });
      const parts = [`${ifname} is up`];
      if (st.tunnelled.length)
        parts.push(`default route (IPv${st.tunnelled.join('+IPv')}) through the tunnel`);
      if (st.blocked.length) parts.push(`IPv${st.blocked.join('+IPv')} blocked (not carried by the tunnel)`);
      if (st.killSwitch) parts.push('kill switch on');
      echo(`[+] ${parts.join('; ')}`);
    });

  program
    .command('down')
    .description('take a tunnel brought up by `ferry up` down and undo everything it changed')
    .argument('<interface>', 'the interface name, or the config it was brought up from')
    .action((arg: string) => {
      const { ifname } = resolveConfigArg(arg);
      down(ifname, echo);
      echo(`[+] ${ifname} is down`);
    });
}
