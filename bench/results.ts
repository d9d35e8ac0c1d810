import type { RowIdentity } from './cases/types.js';
import type { Machine } from './machine.js';

/** The shape of a run's JSON record (bench/results/*.json), shared by the writer, the chart and --compare. */

export const SCHEMA = 'sealcam-bench/2';

export type Status = 'ok' | 'DISAGREES' | 'ERROR';

export interface Result extends RowIdentity {
  /** `${impl} ${op}`: what --filter matches and --compare joins on (with the size). */
  name: string;
  size: number;
  bytes: number;
  status: Status;
  detail?: string;
  samples?: number;
  medianMs?: number;
  p25Ms?: number;
  p75Ms?: number;
  /** 10^6 bytes per second from the median time per operation. */
  mbps?: number;
  cyclesPerByte?: number | null;
  /** Throughput ratio to sealcam native EAX, and to the fastest pure-JS EAX, of the same direction and key size. */
  vsNative?: number | null;
  vsFastestJs?: number | null;
  fastestJs?: string | null;
  /** Streamed rows: the child process's peak RSS, and its RSS just before the stream started. */
  peakRssMiB?: number | null;
  rssBeforeMiB?: number | null;
}

export type Verdict = 'PASS' | 'MISS' | 'n/a';

export interface TargetResult {
  target: string;
  /** What was measured, e.g. "521 / 281 MB/s". */
  measured: string;
  value: number | null;
  threshold: string;
  verdict: Verdict;
}

export interface TimedCommand {
  name: string;
  command: string;
  meanMs: number;
  stddevMs: number;
  medianMs: number;
  minMs: number;
  runs: number;
}

export interface StartupFigures {
  runs: number;
  /** Medians over the runs, in milliseconds. */
  nodeBootMs: number;
  /** The engine modules (engine/eax.js and what it imports), then the rest of the library index. */
  engineImportMs: number;
  libraryImportMs: number;
  wasmCompileMs: number;
  firstInstanceMs: number;
  firstMessageMs: number;
}

export interface WholeProcess {
  notes: string[];
  commands: TimedCommand[];
  /** "sealcam / python" ratios of mean wall time (below 1: sealcam is faster). */
  comparisons: { what: string; ratio: number }[];
  startup: StartupFigures | null;
  /** Problems with the outputs the timed commands wrote (each makes the run fail). */
  disagreements: string[];
}

export interface RunRecord {
  schema: typeof SCHEMA;
  machine: Machine;
  run: {
    date: string;
    mode: string;
    filter: string | null;
    sizes: { size: number; timeBoxMsPerRow: number }[];
    rounds: number;
    minIterationsPerRound: number;
    workers: number[];
    streamSizes: number[];
    headerBytes: number;
    durationSeconds: number;
    notes: string[];
  };
  results: Result[];
  targets: TargetResult[];
  wholeProcess: WholeProcess | null;
}
