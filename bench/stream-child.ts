import { peakRssMiB, streamFile, type StreamChildReply, type StreamJob } from './stream.js';

/**
 * Child process for bench/stream.ts: runs one streaming job and reports its time and this
 * process's peak RSS, so the figure covers the streaming and nothing else of the benchmark.
 */
process.once('message', (job: StreamJob) => {
  const reply = (r: StreamChildReply): void => {
    process.send!(r, () => process.disconnect());
  };
  streamFile(job).then(
    ({ ms, rssBeforeMiB }) => reply({ ok: true, ms, rssBeforeMiB, peakRssMiB: peakRssMiB() }),
    (e: unknown) => reply({ ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
});
