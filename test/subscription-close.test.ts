import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/paths.js';
import { startMosquitto, type Mosquitto } from './fixtures/servers.js';

/**
 * A share-group subscription that has closed leaves nothing behind that keeps the process alive.
 * Found by the receiver benchmark: its receiver processes took 5 s to exit after close(), the
 * length of the wait close() races each unsubscribe against, whose timer is left running once the
 * unsubscribe answered. Run in a fresh process (dist/, as the CLI runs) so that only the
 * subscription's own timers and sockets are there to be counted.
 */

let mosquitto: Mosquitto;
beforeAll(async () => {
  mosquitto = await startMosquitto({}, { persistence: false });
});
afterAll(async () => {
  await mosquitto?.stop();
});

const SCRIPT = `
const { subscribeEvents } = await import(${JSON.stringify(join(packageRoot, 'dist', 'src', 'notify', 'index.js'))});
const subscription = await subscribeEvents({ url: process.env.URL, clientId: 'close-check', share: 'close-check', connections: 2 }, () => undefined);
await subscription.close();
// Let sockets finish closing; what is left after that would hold the process open.
await new Promise((r) => setTimeout(r, 200));
console.log(JSON.stringify(process.getActiveResourcesInfo()));
process.exit(0);
`;

describe('closing a shared subscription', () => {
  it('leaves no timer or socket that keeps the process alive', () => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { env: { ...process.env, URL: mosquitto.url }, encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const left = JSON.parse(run.stdout.trim().split('\n').pop()!) as string[];
    // The process's own stdio pipes are all that may remain.
    expect(left.filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap')).toEqual([]);
  });
});
