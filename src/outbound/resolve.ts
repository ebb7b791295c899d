// Name resolution for outbounds, with the address guard applied to every answer. Uses the system
// resolver (getaddrinfo through libuv's thread pool), which honours /etc/hosts and nsswitch like
// every other program on the host.
import { lookup } from 'node:dns/promises';
import { FerryError } from '../core/errors.js';
import type { Destination } from '../core/session.js';
import type { AddressGuard } from '../router/address-guard.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Returns the addresses the guard allows, in resolver order; throws when none is allowed. */
export async function resolveAllowed(dest: Destination, guard: AddressGuard): Promise<ResolvedAddress[]> {
  if (dest.kind !== 'domain') {
    const why = guard.check(dest.host);
    if (why) throw new FerryError('E_DEST_FORBIDDEN', `destination refused: ${why}`);
    return [{ address: dest.host, family: dest.kind === 'ipv4' ? 4 : 6 }];
  }
  let answers: { address: string; family: number }[];
  try {
    answers = await lookup(dest.host, { all: true, verbatim: true });
  } catch (err) {
    throw new FerryError('E_DNS', `${dest.host} does not resolve`, { cause: err });
  }
  const allowed: ResolvedAddress[] = [];
  let firstWhy: string | null = null;
  for (const a of answers) {
    const why = guard.check(a.address);
    if (why === null) allowed.push({ address: a.address, family: a.family === 6 ? 6 : 4 });
    else firstWhy ??= why;
  }
  if (allowed.length === 0) {
    throw new FerryError(
      'E_DEST_FORBIDDEN',
      `destination refused: ${dest.host} resolves to ${firstWhy ?? 'nothing usable'}`,
    );
  }
  return allowed;
}
