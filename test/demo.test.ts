import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatReport, type DemoReport } from '../src/demo/demo.js';
import { sampleImages } from '../src/device/index.js';
import { parseHeader } from '../src/formats/sealed.js';
import { asV2 } from './helpers/sealed.js';
import { outputFiles } from './helpers/output.js';
import { CLI } from './helpers/cli.js';

/** `sealcam demo` (npm start) as a user runs it: the built CLI, real sockets on 127.0.0.1. */

const root = mkdtempSync(join(tmpdir(), 'sealcam-demo-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function demo(...args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, SEALCAM_NO_PROGRESS: '1' };
  delete env.SEALCAM_DEBUG;
  return spawnSync(process.execPath, [CLI, 'demo', ...args], { encoding: 'utf8', env, cwd: root, timeout: 120_000 });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('sealcam demo', () => {
  it('runs the whole flow and every received image is one the cameras captured, byte for byte', async () => {
    const dir = join(root, 'kept');
    const r = demo('--devices', '2', '--rounds', '2', '--dir', dir, '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as DemoReport;
    const samples = await sampleImages();
    expect(report.images).toBe(2 * 2 * samples.length);
    expect(report.identical).toBe(report.images);
    expect(report.problems).toEqual([]);
    expect(report.stages.endToEnd.p50).toBeGreaterThan(0);

    // Checked here again, independently of the demo's own check: the files on disk.
    const received = outputFiles(join(dir, 'received')).map((f) => join(dir, 'received', f));
    expect(received).toHaveLength(report.images);
    const captured = new Map(samples.map((s) => [sha(s.bytes), s.name]));
    for (const file of received) expect(captured.has(sha(readFileSync(file)))).toBe(true);
    // What went through the store is sealed: no stored blob contains a sample's bytes.
    for (const blob of filesUnder(join(dir, 'store')).filter((f) => f.endsWith('.sealed'))) {
      expect(captured.has(sha(readFileSync(blob)))).toBe(false);
    }
    // Sealed to the fleet's recipient and signed by the camera whose prefix it is under: no camera held a key that opens.
    expect(report.signed).toBe(report.images);
    for (const blob of filesUnder(join(dir, 'store')).filter((f) => f.endsWith('.sealed'))) {
      const header = asV2(parseHeader(readFileSync(blob)));
      expect(header.stanzas.map((st) => st.type)).toEqual(['x25519']);
      expect(header.signature).toBeDefined();
      expect(blob).toContain(`/${header.deviceId}/`);
    }
  }, 120_000);

  it('prints a plain report and leaves nothing behind without --dir', () => {
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('sealcam-demo-')).length;
    const r = demo('--devices', '1', '--rounds', '1', '--engine', 'native');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/identical +5 of 5 images byte for byte/);
    expect(r.stdout).toMatch(/result +OK/);
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('sealcam-demo-')).length).toBe(before);
  }, 120_000);

  it('with --dashboard serves the dashboard during the demo: the sign-in URL before the cameras start, and the report says it closed with the demo', () => {
    const r = demo('--devices', '1', '--rounds', '1', '--dashboard', '127.0.0.1:0');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^dashboard at http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
    expect(lines[2]).toMatch(/^sealcam demo: 1 cameras, 5 images/);
    expect(lines.at(-1)).toBe('  dashboard    closed with the demo (--keep-open keeps it up: npm start -- --keep-open)');
    expect(r.stderr).toMatch(/^sealcam dashboard: fleet records from .+\/received\n$/);
  }, 120_000);

  it('with --json and --dashboard keeps stdout the report alone: the URL goes to stderr', () => {
    const r = demo('--devices', '1', '--rounds', '1', '--dashboard', '127.0.0.1:0', '--json');
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as DemoReport).identical).toBe(5);
    expect(r.stderr).toMatch(/^dashboard at http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}\n$/);
  }, 120_000);

  it('refuses a --dashboard that is not an address in one line, before any camera starts', () => {
    const r = demo('--dashboard', 'example.com:80');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('sealcam: --dashboard "example.com:80" is not an address: use host:port, e.g. 127.0.0.1:8787 or [::1]:8787\n');
  });

  it('refuses bad numbers in one line', () => {
    const r = demo('--devices', 'three');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('sealcam: --devices must be a positive integer, got "three"\n');
  });

  it('a report with a problem says FAILED', () => {
    const stage = { p50: 1, p95: 1, mean: 1, max: 1 };
    const report: DemoReport = {
      dir: '/x', kept: false, devices: 1, images: 2, bytes: 10, sealedBytes: 20, elapsedMs: 5, throughputMBps: 1,
      stages: { seal: stage, upload: stage, notify: stage, download: stage, open: stage, endToEnd: stage },
      identical: 1, recipient: 'sealcam-x25519:AAAA', signed: 1, problems: ['cam-01-1/x.sealed was sent but never received'],
    };
    const lines = formatReport(report);
    expect(lines.at(-1)).toMatch(/FAILED/);
    expect(lines).toContain('  PROBLEM: cam-01-1/x.sealed was sent but never received');
  });
});
