/** What a receiver counts, as outcomes settle. */

export interface ReceiverStats {
  opened: number;
  duplicates: number;
  quarantined: number;
  /** Image bytes written. */
  bytes: number;
  /** Images that failed and stay pending. */
  failed: number;
  /** Accepted and not finished yet. */
  pending: number;
}

export type Outcome = { status: 'opened'; bytes?: number } | { status: 'duplicate' | 'quarantined' } | { status: 'failed' };

export class ReceiverCounters {
  private readonly counts = { opened: 0, duplicates: 0, quarantined: 0, bytes: 0, failed: 0 };

  count(outcome: Outcome): void {
    if (outcome.status === 'opened') {
      this.counts.opened++;
      this.counts.bytes += outcome.bytes ?? 0;
    } else if (outcome.status === 'duplicate') this.counts.duplicates++;
    else if (outcome.status === 'quarantined') this.counts.quarantined++;
    else this.counts.failed++;
  }

  snapshot(pending: number): ReceiverStats {
    return { ...this.counts, pending };
  }
}
