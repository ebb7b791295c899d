// Domain patterns used by rules and allow lists:
//   "example.com"      exact name
//   ".example.com"     the name and every subdomain (suffix match on a label boundary)
//   "*.example.com"    subdomains only (one or more labels), not example.com itself
//   "*"                any domain name
export type DomainPattern = { kind: 'exact' | 'suffix' | 'sub' | 'any'; value: string };

export function parseDomainPattern(text: string): DomainPattern {
  const t = text.trim().toLowerCase().replace(/\.$/, '');
  if (t === '*') return { kind: 'any', value: '' };
  if (t.startsWith('*.')) return { kind: 'sub', value: t.slice(2) };
  if (t.startsWith('.')) return { kind: 'suffix', value: t.slice(1) };
  if (t.includes('*'))
    throw new Error(`'${text}': a wildcard is only allowed as the first label ("*.example.com")`);
  return { kind: 'exact', value: t };
}

export function domainMatches(p: DomainPattern, host: string): boolean {
  switch (p.kind) {
    case 'any':
      return true;
    case 'exact':
      return host === p.value;
    case 'suffix':
      return (
        host === p.value ||
        (host.endsWith(p.value) && host.charCodeAt(host.length - p.value.length - 1) === 46)
      );
    case 'sub':
      return (
        host.length > p.value.length &&
        host.endsWith(p.value) &&
        host.charCodeAt(host.length - p.value.length - 1) === 46
      );
  }
}
