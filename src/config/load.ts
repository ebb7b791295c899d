// Loading and validating configuration. Errors name the file, the path of the bad key and what was
// expected, e.g. "ferry.yaml: inbounds[0].listen: '8080' is not HOST:PORT (e.g. 127.0.0.1:8080)".
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { FerryError } from '../core/errors.js';
import { configSchema, type Config } from './schema.js';

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

export function formatIssues(where: string, err: z.ZodError): string {
  return err.issues.map((i) => `${where}: ${formatPath(i.path)}: ${i.message}`).join('\n');
}

/** Validates an already-parsed object; `where` names its origin for messages. */
export function validateConfig(raw: unknown, where = 'config'): Config {
  const r = configSchema.safeParse(raw ?? {});
  if (!r.success) throw new FerryError('E_CONFIG', formatIssues(where, r.error));
  const cfg = r.data;
  const seen = new Set<string>();
  for (const i of cfg.inbounds) {
    if (seen.has(i.name)) throw new FerryError('E_CONFIG', `${where}: inbounds: duplicate name '${i.name}'`);
    seen.add(i.name);
  }
  const ob = new Set<string>();
  for (const o of cfg.outbounds) {
    if (ob.has(o.name) || o.name === 'reject')
      throw new FerryError('E_CONFIG', `${where}: outbounds: duplicate or reserved name '${o.name}'`);
    ob.add(o.name);
  }
  const users = new Set<string>();
  for (const u of cfg.users) {
    if (users.has(u.name)) throw new FerryError('E_CONFIG', `${where}: users: duplicate name '${u.name}'`);
    users.add(u.name);
  }
  return cfg;
}

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FerryError('E_CONFIG', `${file}: cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message : String(e);
    throw new FerryError('E_CONFIG', `${file}: not valid YAML: ${msg}`);
  }
  return validateConfig(raw, file);
}
