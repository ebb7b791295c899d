// Loader for the native addon built from native/tun.c by node-gyp (binding.gyp, target ferry_tun).
// The compiled JS lives in dist/src/tun/, the addon in build/Release/ at the package root; we walk up
// from this file instead of hard-coding the depth so the same code works from src/ (ts-node) and dist/.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeTun {
  /** `offload` asks for IFF_VNET_HDR with TSO; the result says whether the kernel agreed. */
  open(name: string, multiQueue: boolean, offload: boolean): { fd: number; name: string; offload: boolean };
  mtu(name: string): number;
  readBatch(fd: number, buf: Uint8Array, slot: number, lengths: Int32Array): number;
  writeBatch(fd: number, buf: Uint8Array, lengths: Int32Array, count: number): number;
  readBatchV(fd: number, buf: Uint8Array, offsets: Int32Array, lengths: Int32Array): number;
  writeBatchV(fd: number, buf: Uint8Array, lengths: Int32Array, count: number): number;
  watch(fd: number, callback: (status: number) => void): unknown;
  unwatch(handle: unknown): void;
  setMark(fd: number, mark: number): number;
  close(fd: number): number;
  linkState(name: string): { flags: number; mtu: number };
  netlinkOpen(): number;
  netlinkDrain(fd: number): number;
  udpOpen(family: 4 | 6, port: number): number;
  udpLocalPort(fd: number): number;
  udpEnableGro(fd: number): number;
  udpRecvBatch(
    fd: number,
    buf: Uint8Array,
    slot: number,
    lengths: Int32Array,
    addrs: Uint8Array,
    segs: Int32Array,
  ): number;
  /** Returns the number sent, with GSO_FAILED or'ed in when the kernel refused a GSO send. */
  udpSendBatch(
    fd: number,
    buf: Uint8Array,
    lengths: Int32Array,
    addrs: Uint8Array,
    count: number,
    gso: boolean,
  ): number;
}

/** Size of the address records exchanged with udpRecvBatch/udpSendBatch (see native/tun.c). */
export const ADDR_REC = 20;
export const GSO_FAILED = 0x40000000;

let cached: NativeTun | undefined;

function findAddon(): string {
  const override = process.env.FERRY_NATIVE_ADDON;
  if (override) return override;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const kind of ['Release', 'Debug']) {
      const p = join(dir, 'build', kind, 'ferry_tun.node');
      if (existsSync(p)) return p;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(
    'native addon build/Release/ferry_tun.node not found: run `npm install` (or `npx node-gyp rebuild`) ' +
      'in the Ferry package; it needs a C compiler, make, python3 and the Node.js headers',
  );
}

export function native(): NativeTun {
  if (!cached) cached = createRequire(import.meta.url)(findAddon()) as NativeTun;
  return cached;
}

/** Linux errno values the I/O layer reacts to (asm-generic/errno.h). */
export const ERRNO = {
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENODEV: 19,
  EINVAL: 22,
  EPROTO: 71,
  EBADFD: 77,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
} as const;
