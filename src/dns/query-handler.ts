// One client message in, the answer out (or nothing): access control, validation, resolution and
// adapting the answer to the client and transport. Shared by the UDP and TCP listeners.
import type { Logger } from '../core/logger.js';
import type { CidrSet } from '../net/cidr.js';
import type { Resolver } from './resolver.js';
import type { DnsStats } from './stats.js';
import {
  FLAG_TC,
  RCODE_BADVERS,
  RCODE_FORMERR,
  RCODE_NOTIMP,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  adaptResponse,
  buildErrorResponse,
  parseQuery,
  readU16,
  type ParsedQuery,
} from './wire.js';

/** RFC 5936 (AXFR) and RFC 1995 (IXFR): zone transfers are between a zone's servers, not for clients of
 * a forwarder, and their multi-message answers do not fit a one-question-one-answer forwarder. */
const TYPE_IXFR = 251;
const TYPE_AXFR = 252;

export interface QueryHandlerOptions {
  resolver: Resolver;
  allowFrom: CidrSet;
  stats: DnsStats;
  /** Log each query's name, type, client and outcome. Off unless the operator asked for it. */
  logQueries: boolean;
  logger?: Logger;
}

export class QueryHandler {
  constructor(private readonly opts: QueryHandlerOptions) {}

  /** The answer to send, or null to send nothing. Never throws. */
  async handle(msg: Uint8Array, client: string, udp: boolean): Promise<Uint8Array | null> {
    const { stats } = this.opts;
    let parsed;
    try {
      parsed = parseQuery(msg);
    } catch {
      stats.malformed++;
      return null;
    }
    if (!parsed.ok) {
      stats.malformed++;
      switch (parsed.problem) {
        case 'drop':
          return null;
        case 'formerr':
          return buildErrorResponse(null, parsed.id, RCODE_FORMERR);
        case 'notimp':
          return buildErrorResponse(null, parsed.id, RCODE_NOTIMP);
        case 'badvers':
          return buildErrorResponse(parsed.query ?? null, parsed.id, RCODE_BADVERS);
      }
    }
    const q = parsed.query;
    if (!this.opts.allowFrom.has(client) || q.qtype === TYPE_AXFR || q.qtype === TYPE_IXFR) {
      stats.refused++;
      this.log(q, client, RCODE_REFUSED, false);
      return buildErrorResponse(q, q.id, RCODE_REFUSED);
    }
    stats.queries++;
    let answer: Uint8Array;
    const hit = this.opts.resolver.cached(q);
    try {
      const response = hit ?? (await this.opts.resolver.resolve(q));
      if (response) answer = adaptResponse(response, q, udp, response === hit);
      else {
        stats.servfail++;
        answer = buildErrorResponse(q, q.id, RCODE_SERVFAIL);
      }
    } catch {
      // A response that passed the upstream checks but not the full walk: treat as no answer.
      stats.servfail++;
      answer = buildErrorResponse(q, q.id, RCODE_SERVFAIL);
    }
    // Upstream truncation is resolved over TCP before this point, so TC here is Ferry's own cut.
    if (udp && readU16(answer, 2) & FLAG_TC) stats.truncated++;
    this.log(q, client, readU16(answer, 2) & 0xf, hit !== null);
    return answer;
  }

  private log(q: ParsedQuery, client: string, rcode: number, cached: boolean): void {
    if (!this.opts.logQueries || !this.opts.logger) return;
    this.opts.logger.info(
      { dns: { client, name: nameOf(q.question), type: q.qtype, rcode, cached } },
      'DNS query',
    );
  }
}

/** The question's name in presentation form, for the query log only. */
function nameOf(question: Uint8Array): string {
  const labels: string[] = [];
  let off = 0;
  while (question[off]) {
    const len = question[off]!;
    labels.push(Buffer.from(question.subarray(off + 1, off + 1 + len)).toString('latin1'));
    off += 1 + len;
  }
  return labels.length ? `${labels.join('.')}.` : '.';
}
