import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieValue, DashboardAuth } from '../src/dashboard/auth.js';
import { parseListen, startDashboard, type Dashboard } from '../src/dashboard/server.js';
import { pathInside } from '../src/receiver/output.js';
import { writeImageRecord } from '../src/fleet/records.js';
import type { FleetSnapshot } from '../src/fleet/snapshot.js';
import { imageFields } from './fixtures/fleet-records.js';
import { receiveSample } from './fixtures/fleet-output.js';
import { CLI } from './helpers/cli.js';

/**
 * The dashboard server over real HTTP on 127.0.0.1: sign-in by token URL, session cookies, 401 on
 * every route without them, security headers, the JSON snapshot, Server-Sent Events, thumbnails
 * made by sharp, and the CLI command that starts it.
 */

const TOKEN = 'test-token-0123456789abcdef';
const root = mkdtempSync(join(tmpdir(), 'sealcam-dashboard-'));
const output = join(root, 'out');
let dashboard: Dashboard;

beforeAll(async () => {
  mkdirSync(output);
  await receiveSample(output, 'cam-1', 'street-dusk.jpg', Date.now() - 2000);
  dashboard = await startDashboard({ listen: '127.0.0.1:0', output, token: TOKEN, pollMs: 50 });
});
afterAll(async () => {
  await dashboard?.close();
  rmSync(root, { recursive: true, force: true });
});

const get = (path: string, init: RequestInit = {}) => fetch(`${dashboard.origin}${path}`, { redirect: 'manual', ...init });

/** Signs in through the token URL; returns the Cookie header that carries the session. */
async function signIn(): Promise<string> {
  const res = await get(`/?token=${TOKEN}`);
  const [cookie] = res.headers.getSetCookie();
  return cookie!.split(';')[0]!;
}

const ROUTES = ['/', '/api/fleet', '/events', '/thumb/cam-1', '/assets/app.js', '/assets/app.css', '/no-such-page'];

describe('dashboard access', () => {
  for (const path of ROUTES) {
    it(`answers 401 on ${path} without a token or session`, async () => {
      const res = await get(path);
      expect(res.status).toBe(401);
      expect(await res.text()).not.toContain(TOKEN);
    });
  }

  it('answers 401 to a POST without a session', async () => {
    expect((await get('/', { method: 'POST' })).status).toBe(401);
  });

  it('trades the token URL for a session cookie and redirects to the URL without the token', async () => {
    const res = await get(`/?token=${TOKEN}`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    expect(await res.text()).not.toContain(TOKEN);
  });

  it('keeps the other query parameters in the redirect', async () => {
    const res = await get(`/?view=compact&token=${TOKEN}`);
    expect(res.headers.get('location')).toBe('/?view=compact');
  });

  it('sets an HttpOnly, SameSite=Strict cookie holding a random session id, not the token', async () => {
    const [first] = (await get(`/?token=${TOKEN}`)).headers.getSetCookie();
    const [second] = (await get(`/?token=${TOKEN}`)).headers.getSetCookie();
    const port = new URL(dashboard.origin).port;
    expect(first).toMatch(new RegExp(`^sealcam-dashboard-${port}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict$`));
    expect(first).not.toContain(TOKEN);
    expect(first).not.toBe(second);
  });

  it('serves every route to the session cookie', async () => {
    const cookie = await signIn();
    for (const path of ['/', '/api/fleet', '/assets/app.js', '/assets/app.css', '/thumb/cam-1']) {
      const res = await get(path, { headers: { cookie } });
      expect(res.status, path).toBe(200);
      await res.arrayBuffer();
    }
  });

  it('refuses a wrong token without setting a cookie', async () => {
    const res = await get(`/?token=${TOKEN}x`);
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('refuses a session id it did not issue', async () => {
    const port = new URL(dashboard.origin).port;
    const res = await get('/api/fleet', { headers: { cookie: `sealcam-dashboard-${port}=${'A'.repeat(43)}` } });
    expect(res.status).toBe(401);
  });

  it('refuses the token itself as a cookie value', async () => {
    const port = new URL(dashboard.origin).port;
    expect((await get('/api/fleet', { headers: { cookie: `sealcam-dashboard-${port}=${TOKEN}` } })).status).toBe(401);
  });

  it('accepts the token as a bearer credential, and refuses a wrong one', async () => {
    expect((await get('/api/fleet', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await get('/api/fleet', { headers: { authorization: 'Bearer not-the-token-at-all' } })).status).toBe(401);
  });

  it('has no state-changing method: POST, PUT and DELETE answer 405 even with a session', async () => {
    const cookie = await signIn();
    for (const method of ['POST', 'PUT', 'DELETE']) expect((await get('/api/fleet', { method, headers: { cookie } })).status).toBe(405);
  });

  it('does not sign in through a POST to the token URL', async () => {
    const res = await get(`/?token=${TOKEN}`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('sends the security headers on refusals and on the page', async () => {
    const cookie = await signIn();
    for (const res of [await get('/'), await get('/', { headers: { cookie } })]) {
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      );
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('serves a page with no inline script and nothing from another origin', async () => {
    const html = await (await get('/', { headers: { cookie: await signIn() } })).text();
    expect(html).toContain('<script type="module" src="/assets/app.js"></script>');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
  });
});

describe('DashboardAuth', () => {
  it('ends a session 24 hours after sign-in', () => {
    const clock = { now: 0 };
    const auth = new DashboardAuth(TOKEN, 'c', () => clock.now);
    const cookie = auth.startSession().split(';')[0]!;
    const req = { headers: { cookie } } as never;
    expect(auth.allows(req)).toBe(true);
    clock.now = 24 * 3600 * 1000;
    expect(auth.allows(req)).toBe(false);
  });

  it('tells the token from a prefix of it and from a longer string', () => {
    const auth = new DashboardAuth(TOKEN, 'c');
    expect([auth.isToken(TOKEN), auth.isToken(TOKEN.slice(0, -1)), auth.isToken(`${TOKEN}0`), auth.isToken('')]).toEqual([true, false, false, false]);
  });

  it('refuses a token too short to be a secret', () => {
    expect(() => new DashboardAuth('short', 'c')).toThrow("the dashboard token must be 16-512 characters of letters, digits, '.', '_', '~' or '-'");
  });

  it('reads one cookie among several', () => {
    expect(cookieValue('a=1; sealcam-dashboard-1=xyz; b=2', 'sealcam-dashboard-1')).toBe('xyz');
    expect(cookieValue('xsealcam-dashboard-1=xyz', 'sealcam-dashboard-1')).toBeUndefined();
  });
});

describe('parseListen', () => {
  it('reads IPv4, IPv6 and localhost addresses', () => {
    expect([parseListen('127.0.0.1:8787'), parseListen('[::1]:0'), parseListen('localhost:9000')]).toEqual([
      { host: '127.0.0.1', port: 8787 },
      { host: '::1', port: 0 },
      { host: 'localhost', port: 9000 },
    ]);
  });

  for (const bad of ['8787', 'example.com:80', '127.0.0.1:70000', '::1:80', '127.0.0.1']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      expect(() => parseListen(bad)).toThrow(`--listen ${JSON.stringify(bad)} is not an address`);
    });
  }
});

describe('dashboard data', () => {
  it('serves the fleet snapshot as JSON', async () => {
    const res = await get('/api/fleet', { headers: { cookie: await signIn() } });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const snapshot = (await res.json()) as FleetSnapshot;
    expect(snapshot.devices.map((d) => d.id)).toContain('cam-1');
  });

  it('pushes a snapshot at once and another when a record arrives (Server-Sent Events)', async () => {
    const abort = new AbortController();
    const res = await get('/events', { headers: { cookie: await signIn() }, signal: abort.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    const nextSnapshot = async (): Promise<FleetSnapshot> => {
      for (;;) {
        const frame = /data: (.*)\n\n/.exec(buffered);
        if (frame) {
          buffered = buffered.slice(frame.index + frame[0].length);
          return JSON.parse(frame[1]!) as FleetSnapshot;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('the event stream ended');
        buffered += value;
      }
    };
    try {
      expect((await nextSnapshot()).devices.some((d) => d.id === 'cam-sse')).toBe(false);
      await writeImageRecord(output, imageFields('cam-1', 'sse.jpg', Date.now()));
      let snapshot = await nextSnapshot();
      while (snapshot.devices.find((d) => d.id === 'cam-1')?.latest?.name !== 'sse.jpg') snapshot = await nextSnapshot();
      expect(snapshot.devices.find((d) => d.id === 'cam-1')!.imagesToday).toBeGreaterThanOrEqual(2);
    } finally {
      abort.abort();
    }
  });
});

describe('dashboard thumbnails', () => {
  let output2: string;
  let dash: Dashboard;
  let cookie: string;
  beforeAll(async () => {
    output2 = join(root, 'thumbs');
    mkdirSync(output2);
    await receiveSample(output2, 'cam-big', 'car-park-day.jpg', Date.now() - 1000);
    await receiveSample(output2, 'cam-png', 'test-card.png', Date.now() - 1000);
    // A record whose image is a link to a file outside the output root.
    writeFileSync(join(root, 'secret.jpg'), 'not for the dashboard');
    await writeImageRecord(output2, imageFields('cam-link', 'link.jpg', Date.now() - 1000));
    const day = imageFields('cam-link', 'link.jpg', Date.now() - 1000).outputPath.split('/')[1]!;
    mkdirSync(join(output2, 'cam-link', day), { recursive: true });
    symlinkSync(join(root, 'secret.jpg'), join(output2, 'cam-link', day, 'link.jpg'));
    dash = await startDashboard({ listen: '127.0.0.1:0', output: output2, token: TOKEN });
    cookie = (await fetch(`${dash.origin}/?token=${TOKEN}`, { redirect: 'manual' })).headers.getSetCookie()[0]!.split(';')[0]!;
  });
  afterAll(() => dash.close());

  const thumb = (device: string, headers: Record<string, string> = {}) => fetch(`${dash.origin}/thumb/${device}`, { headers: { cookie, ...headers } });

  it('scales the latest image down to at most 320x240, as a JPEG', async () => {
    const res = await thumb('cam-big');
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 320, 240]);
  });

  it('makes a thumbnail of a PNG too', async () => {
    const meta = await sharp(Buffer.from(await (await thumb('cam-png')).arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 192, 144]);
  });

  it('answers 304 when the browser has this thumbnail already', async () => {
    const etag = (await thumb('cam-big')).headers.get('etag')!;
    expect((await thumb('cam-big', { 'if-none-match': etag })).status).toBe(304);
  });

  it('answers 404 for a camera it does not know', async () => {
    expect((await thumb('cam-none')).status).toBe(404);
  });

  it('does not follow a link out of the output root', async () => {
    expect((await thumb('cam-link')).status).toBe(404);
  });

  it('resolves record paths only inside the root', async () => {
    expect(await pathInside(output2, '../secret.jpg')).toBeUndefined();
    expect(await pathInside(output2, '/etc/passwd')).toBeUndefined();
    expect(await pathInside(output2, 'cam-big/../../secret.jpg')).toBeUndefined();
    expect(await pathInside(output2, '')).toBeUndefined();
  });
});

describe('sealcam dashboard', () => {
  /** Starts the CLI; resolves with its first line on stdout, then stops it. */
  function firstLine(args: string[], env: Record<string, string> = {}): Promise<{ line: string; stderr: string; code: number | null }> {
    return new Promise((resolve) => {
      const environment: NodeJS.ProcessEnv = { ...process.env, ...env };
      if (!('SEALCAM_DASHBOARD_TOKEN' in env)) delete environment.SEALCAM_DASHBOARD_TOKEN;
      const child = spawn(process.execPath, [CLI, 'dashboard', ...args], { env: environment });
      let stdout = '';
      let stderr = '';
      let line = '';
      child.stdout.on('data', (d) => {
        stdout += d;
        if (!line && stdout.includes('\n')) {
          line = stdout.split('\n')[0]!;
          child.kill('SIGTERM');
        }
      });
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ line, stderr, code }));
    });
  }

  it('prints a sign-in URL with a generated token once, and stops cleanly on SIGTERM', async () => {
    const { line, code } = await firstLine(['--listen', '127.0.0.1:0', '--output-dir', output]);
    expect(line).toMatch(/^dashboard at http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
    expect(code).toBe(0);
  });

  it('never prints a token that came from SEALCAM_DASHBOARD_TOKEN', async () => {
    const { line, stderr } = await firstLine(['--listen', '127.0.0.1:0', '--output-dir', output], { SEALCAM_DASHBOARD_TOKEN: TOKEN });
    expect(line).toMatch(/^dashboard at http:\/\/127\.0\.0\.1:\d+\/ \(sign in with .*<SEALCAM_DASHBOARD_TOKEN>\)$/);
    expect(`${line}${stderr}`).not.toContain(TOKEN);
  });

  for (const [args, env, message] of [
    [['--listen', 'example.com:80'], {}, 'sealcam: --listen "example.com:80" is not an address'],
    [['--quiet-after', '5 minutes'], {}, 'sealcam: --quiet-after "5 minutes" is not a duration'],
    [[], { SEALCAM_DASHBOARD_TOKEN: 'short' }, 'sealcam: SEALCAM_DASHBOARD_TOKEN must be 16-512 characters'],
  ] as const) {
    it(`refuses ${[...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ')} in one line`, async () => {
      const { stderr, code } = await firstLine([...args, '--output-dir', output], env);
      expect(stderr.startsWith(message)).toBe(true);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(code).toBe(1);
    });
  }
});
