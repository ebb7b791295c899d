// An outbound that refuses everything: a named target for rules that should deny with a reason.
import { FerryError } from '../core/errors.js';
import type { Outbound } from './outbound.js';

export class RejectOutbound implements Outbound {
  readonly kind = 'reject';
  constructor(
    readonly name: string,
    private readonly reason = 'rejected by policy',
  ) {}
  dial(): Promise<never> {
    return Promise.reject(new FerryError('E_POLICY_DENIED', this.reason));
  }
}
