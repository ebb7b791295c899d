// The admin audit trail (who did what, when). Connection records (audit logging mode) are the
// data plane's and are read through the store.
import { FerryError } from '../../core/errors.js';
import type { Ctx } from './context.js';
import { requireRead } from './principal.js';
import { auditListSchema, parseInput, resolveExpiry, type AuditListInput } from './schemas.js';
import { auditView, type AuditView } from './views.js';

/** "7d" means seven days ago here; an ISO time or ms is taken as is. */
function since(ctx: Ctx, v: number | string | undefined): number | undefined {
  if (v === undefined || typeof v === 'number') return v;
  try {
    const at = resolveExpiry(v, ctx.now());
    if (at === null) return undefined;
    return /^\d+\s*[smhdwy]$/.test(v.trim()) ? 2 * ctx.now() - at : at;
  } catch {
    throw new FerryError('E_INVALID', `since: '${v}' is not a time (e.g. 7d, 2027-01-01)`);
  }
}

export async function listAudit(ctx: Ctx, input: AuditListInput = {}): Promise<AuditView[]> {
  requireRead(ctx.principal, 'read the audit log');
  const i = parseInput(auditListSchema, input, 'audit');
  const s = since(ctx, i.since);
  return (
    await ctx.store.listAuditEvents({
      ...(s !== undefined ? { since: s } : {}),
      ...(i.limit ? { limit: i.limit } : {}),
    })
  ).map(auditView);
}
