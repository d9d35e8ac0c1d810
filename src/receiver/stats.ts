/** What a receiver counts, as outcomes settle. */

export interface ReceiverStats {
  opened: number;
  duplicates: number;
  quarantined: number;
  /** Events refused before any work: their channel is not the camera whose blob they name. */
  refused: number;
  /** Events that lied: refused ones, and those whose SHA-256 or size differed from the blob they named. */
  lies: number;
  /** Image bytes written. */
  bytes: number;
  /** Events the broker delivered again (an earlier delivery went unacknowledged). */
  redeliveries: number;
  /** Images that failed for a reason not their own (retries used up); the blob stays in the store for the next pass. */
  failed: number;
  /** Accepted and not finished yet. */
  pending: number;
}

export type Outcome =
  | { status: 'opened'; bytes?: number; notificationMismatch?: readonly string[] }
  | { status: 'duplicate' | 'quarantined' | 'refused'; notificationMismatch?: readonly string[] }
  | { status: 'failed' };

export class ReceiverCounters {
  private readonly counts = { opened: 0, duplicates: 0, quarantined: 0, refused: 0, lies: 0, bytes: 0, redeliveries: 0, failed: 0 };

  count(outcome: Outcome): void {
    if (outcome.status === 'failed') {
      this.counts.failed++;
      return;
    }
    if (outcome.status === 'refused' || (outcome.notificationMismatch?.length ?? 0) > 0) this.counts.lies++;
    if (outcome.status === 'opened') {
      this.counts.opened++;
      this.counts.bytes += outcome.bytes ?? 0;
    } else if (outcome.status === 'duplicate') this.counts.duplicates++;
    else if (outcome.status === 'quarantined') this.counts.quarantined++;
    else this.counts.refused++;
  }

  redelivery(): void {
    this.counts.redeliveries++;
  }

  snapshot(pending: number): ReceiverStats {
    return { ...this.counts, pending };
  }
}
