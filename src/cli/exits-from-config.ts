// The exits a configuration defines, built in this process for the audit commands (`ferry check`):
// every member of every pool (or of the named pool), else every outbound that is not a rejection.
import type { ConfigInput } from '../config/schema.js';
import { loadConfigFile, validateConfig } from '../config/load.js';
import { FerryError } from '../core/errors.js';
import type { Outbound } from '../outbound/outbound.js';
import { PoolOutbound } from '../outbound/pool/pool.js';
import { buildOutbounds } from '../server/outbounds.js';

export interface Exit {
  name: string;
  outbound: Outbound;
  tags: Readonly<Record<string, string>>;
}

export interface ExitSet {
  exits: Exit[];
  close(): void;
}

export function exitsFromConfig(
  file: string | ConfigInput,
  opts: { pool?: string | undefined; tags?: Record<string, string> | undefined } = {},
): ExitSet {
  const cfg = typeof file === 'string' ? loadConfigFile(file) : validateConfig(file);
  const table = buildOutbounds(cfg);
  const close = (): void => {
    for (const o of table.values()) o.close?.();
  };
  const pools = [...table.values()].filter((o): o is PoolOutbound => o instanceof PoolOutbound);
  let exits: Exit[] = [];
  if (opts.pool !== undefined) {
    const p = table.get(opts.pool);
    if (!(p instanceof PoolOutbound)) {
      close();
      throw new FerryError(
        'E_CONFIG',
        `no pool named '${opts.pool}' (pools: ${pools.map((x) => x.name).join(', ') || 'none'})`,
      );
    }
    exits = p.members.map((m) => ({ name: m.name, outbound: m.outbound, tags: m.tags }));
  } else if (pools.length > 0) {
    const seen = new Set<string>();
    for (const p of pools)
      for (const m of p.members)
        if (!seen.has(m.name)) {
          seen.add(m.name);
          exits.push({ name: m.name, outbound: m.outbound, tags: m.tags });
        }
  } else {
    exits = [...table.values()]
      .filter((o) => o.kind !== 'reject')
      .map((o) => ({ name: o.name, outbound: o, tags: {} }));
  }
  const want = opts.tags ?? {};
  exits = exits.filter((e) => Object.entries(want).every(([k, v]) => e.tags[k] === v.toLowerCase()));
  return { exits, close };
}
