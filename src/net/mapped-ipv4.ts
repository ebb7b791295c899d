// Node reports IPv4 peers of a dual-stack ("::") socket as IPv4-mapped IPv6 addresses, ::ffff:a.b.c.d
// (RFC 4291 §2.5.5.2). Everything that compares, records or shows a peer address uses the IPv4 form.

/** ::ffff:10.0.0.1 → 10.0.0.1; any other address unchanged; undefined → "". */
export function unmapIpv4(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
