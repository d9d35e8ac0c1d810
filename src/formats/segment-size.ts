/**
 * The segment sizes a `sealed` file may declare (docs/FORMAT.md), on their own so the configuration
 * can check `seal.segmentSize` without loading the format and its engines.
 */

/** The header stores log2 of the segment size. */
export const MIN_EXP = 12;
export const MAX_EXP = 24;
export const DEFAULT_SEGMENT_SIZE = 1 << 16;
/** The segment sizes a file may declare: powers of two from 4 KiB to 16 MiB. */
export const MIN_SEGMENT_SIZE = 1 << MIN_EXP;
export const MAX_SEGMENT_SIZE = 1 << MAX_EXP;

/** True for a segment size a file may declare. */
export function isSegmentSize(size: number): boolean {
  const e = Math.log2(size);
  return Number.isInteger(e) && e >= MIN_EXP && e <= MAX_EXP;
}
