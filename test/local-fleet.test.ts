/**
 * The local two-terminal fleet of docs/FLEET.md, as a user runs it: `sealcam device` with the local
 * broker on a fixed port (--mqtt-url), and `sealcam receive --mqtt-url` in the same directory, both
 * the built CLI as separate processes. Then the camera goes away: the receiver says so once, not
 * once a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from './fixtures/servers.js';
import { cleanEnv, CLI } from './helpers/cli.js';
import { LEVELS, logLines } from './helpers/log.js';
import { tempDir } from './helpers/temp-dir.js';

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

function start(cwd: string, args: string[]): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: cleanEnv({ cwd, env: { SEALCAM_NO_PROGRESS: '1', SEALCAM_JOBS: '1' } }) });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, stdout: () => out, stderr: () => err, exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]> };
}

async function waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  for (const deadline = Date.now() + ms; !ok(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the local fleet in two terminals', () => {
  it('device --mqtt-url fixes the broker port and says what to run; receive --mqtt-url opens the images; a broker gone is reported once', async () => {
    const cwd = tempDir('sealcam-two-terminals-');
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const device = start(cwd, ['device', '--synthetic', '--rate', '5', '--frame-size', '4096', '--mqtt-url', url]);
    let receiver: Proc | undefined;
    try {
      await waitFor('the broker line', () => device.stdout().includes('sealcam receive'));
      const lines = device.stdout().split('\n');
      expect(lines[0]).toBe('local MQTT broker (events on sealcam/cam-01/events); in another terminal, in this directory:');
      expect(lines[1]).toBe(`  sealcam receive --mqtt-url ${url}`);

      receiver = start(cwd, ['receive', '--mqtt-url', url]);
      await waitFor('three opened images', () => (receiver!.stdout().match(/^opened /gm) ?? []).length >= 3);
      const opened = receiver.stdout().split('\n').filter((l) => l.startsWith('opened '));
      expect(opened[0]!.startsWith(`opened cam-01/`)).toBe(true);
      // The image is named by its blob alone: <device>/<yyyy-mm-dd>/<the blob's name without .sealed>.
      const [, day, name] = /^opened cam-01\/(\d{4}\/\d\d\/\d\d)\/([^/ ]+-frame-\d+\.png)\.sealed -> /.exec(opened[0]!) ?? [];
      expect(opened[0]).toBe(`opened cam-01/${day}/${name}.sealed -> ${join(cwd, '.sealcam', 'received', 'cam-01', day!.replaceAll('/', '-'), name!)} ${/\(\d+ bytes\)$/.exec(opened[0]!)![0]}`);
      // The log (stderr, JSON lines off a terminal) says what the receiver listens to and where images go.
      expect(logLines(receiver.stderr()).map((l) => [l.level, l.msg])).toEqual([[LEVELS.info, `receiving sealcam/+/events from ${url} into ${join(cwd, '.sealcam', 'received')} (Ctrl-C stops)`]]);

      // The camera (and its broker) stops: the receiver keeps trying to reconnect, but says so once.
      device.child.kill('SIGTERM');
      expect((await device.exited)[0]).toBe(0);
      await new Promise((r) => setTimeout(r, 5000));
      const complaints = logLines(receiver.stderr()).filter((l) => l.level === LEVELS.error);
      expect(complaints.map((l) => l.msg)).toEqual([expect.stringMatching(new RegExp(`^MQTT broker ${url.replace(/[.]/g, '\\.')}: `))]);
      expect(complaints[0]!.receiver).toBe('sealcam-receiver');
      receiver.child.kill('SIGTERM');
      expect((await receiver.exited)[0]).toBe(0);
      expect(receiver.stdout()).toMatch(/^received \d+ images? .*, 0 quarantined, 0 failed$/m);
      expect(readdirSync(join(cwd, '.sealcam', 'received', 'cam-01')).length).toBeGreaterThan(0);
    } finally {
      device.child.kill('SIGKILL');
      receiver?.child.kill('SIGKILL');
    }
  }, 90_000);
});
