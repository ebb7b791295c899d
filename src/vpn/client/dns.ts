// The tunnel's DNS servers, set for the system and restored on `ferry down`.
//
// With resolvconf(8) (Debian's resolvconf or openresolv) we do what wg-quick(8) does: register the
// servers as an interface record (`resolvconf -a <prefix><if> -m 0 -x`) and delete it on down.
// Without it, /etc/resolv.conf is rewritten and the original kept in the state directory. The rewrite
// is in place (truncate + write), never rename: under `ip netns exec` /etc/resolv.conf is a bind
// mount of /etc/netns/<ns>/resolv.conf, which a rename would fail on (EBUSY). A symlinked resolv.conf
// (systemd-resolved's stub) is replaced by a file and the link put back on down.
import {
  existsSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';

export const RESOLV_CONF = '/etc/resolv.conf';

/** What `ferry down` needs to put DNS back the way it was. */
export type DnsUndo =
  | { via: 'resolvconf'; record: string }
  | { via: 'file'; path: string; original: string | null; symlink: string | null; written: string };

export function resolvConfText(ifname: string, nameservers: string[], search: string[]): string {
  const lines = [`# Written by ferry up for ${ifname}; ferry down ${ifname} restores the previous file.`];
  for (const n of nameservers) lines.push(`nameserver ${n}`);
  if (search.length) lines.push(`search ${search.join(' ')}`);
  return lines.join('\n') + '\n';
}

function haveResolvconf(): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':'))
    if (dir && existsSync(`${dir}/resolvconf`)) return true;
  return false;
}

/** wg-quick's resolvconf_iface_prefix: Debian's resolvconf orders records by interface-order. */
function resolvconfPrefix(): string {
  try {
    const order = readFileSync('/etc/resolvconf/interface-order', 'utf8');
    const m = /^([A-Za-z0-9-]+)\*$/m.exec(order);
    return m ? `${m[1]}.` : '';
  } catch {
    return '';
  }
}

export function setDns(ifname: string, nameservers: string[], search: string[], path = RESOLV_CONF): DnsUndo {
  const text = resolvConfText(ifname, nameservers, search);
  if (path === RESOLV_CONF && process.env.FERRY_NO_RESOLVCONF !== '1' && haveResolvconf()) {
    const record = `${resolvconfPrefix()}${ifname}`;
    execFileSync('resolvconf', ['-a', record, '-m', '0', '-x'], {
      input: text,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    return { via: 'resolvconf', record };
  }
  let symlink: string | null = null;
  let original: string | null = null;
  try {
    if (lstatSync(path).isSymbolicLink()) symlink = readlinkSync(path);
    else original = readFileSync(path, 'utf8');
  } catch {
    /* no resolv.conf at all: restoring means removing ours */
  }
  if (symlink !== null) unlinkSync(path);
  writeFileSync(path, text, { mode: 0o644 });
  return { via: 'file', path, original, symlink, written: text };
}

/** Puts DNS back. Returns a warning when someone else changed the file meanwhile (it is restored anyway). */
export function restoreDns(u: DnsUndo): string | null {
  if (u.via === 'resolvconf') {
    execFileSync('resolvconf', ['-d', u.record, '-f'], { stdio: 'ignore' });
    return null;
  }
  let warning: string | null = null;
  try {
    if (readFileSync(u.path, 'utf8') !== u.written)
      warning = `${u.path} was changed by something else while the tunnel was up; restoring the original anyway`;
  } catch {
    /* gone: restore below */
  }
  if (u.symlink !== null) {
    try {
      unlinkSync(u.path);
    } catch {
      /* already gone */
    }
    symlinkSync(u.symlink, u.path);
  } else if (u.original !== null) writeFileSync(u.path, u.original);
  else {
    try {
      unlinkSync(u.path);
    } catch {
      /* already gone */
    }
  }
  return warning;
}
