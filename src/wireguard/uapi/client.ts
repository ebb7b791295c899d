// Client side of the UAPI socket, for `ferry wg show` and `ferry wg up`'s own configuration.
import { createConnection } from 'node:net';
import { readdirSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { parseGetReply, UapiError, type UapiDeviceState } from './protocol.js';
import { socketDir, socketPath } from './server.js';

function exchange(ifname: string, request: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socketPath(ifname));
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply from ${socketPath(ifname)} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(request));
    s.on('data', (d: string) => {
      out += d;
      // A reply ends with "errno=N\n\n".
      if (/(^|\n)errno=-?\d+\n\n$/.test(out)) {
        clearTimeout(timer);
        s.end();
        resolve(out);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach interface '${ifname}' at ${socketPath(ifname)}: ${e.message}`));
    });
    s.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`${socketPath(ifname)} closed the connection without a reply`));
    });
  });
}

export async function uapiGet(ifname: string): Promise<UapiDeviceState> {
  return parseGetReply(await exchange(ifname, 'get=1\n\n'));
}

/** Sends a `set` body (key=value lines); throws UapiError when the device rejects it. */
export async function uapiSet(ifname: string, lines: string[]): Promise<void> {
  const reply = await exchange(ifname, `set=1\n${lines.map((l) => l + '\n').join('')}\n`);
  const m = /errno=(-?\d+)/.exec(reply);
  if (!m || m[1] !== '0')
    throw new UapiError(
      Number(m?.[1] ?? -5),
      `interface '${ifname}' rejected the configuration (errno=${m?.[1]})`,
    );
}

/** Interfaces with a UAPI socket, as `wg show interfaces` lists userspace ones. */
export function listUapiInterfaces(): string[] {
  try {
    return readdirSync(socketDir())
      .filter((f) => f.endsWith('.sock') && lstatSync(join(socketDir(), f)).isSocket())
      .map((f) => f.slice(0, -'.sock'.length))
      .sort();
  } catch {
    return [];
  }
}
