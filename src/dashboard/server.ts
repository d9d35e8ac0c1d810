import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SealcamError } from '../errors.js';
import { FleetView, type FleetViewOptions } from '../fleet/view.js';
import { packageRoot } from '../paths.js';
import { directoryOutput, type Output } from '../receiver/output.js';
import { checkToken, DashboardAuth, generateToken } from './auth.js';
import { Thumbnails } from './thumbs.js';
import { vectorIndex, vectorFile } from './vector-files.js';

/**
 * The fleet dashboard: the fleet page, a JSON snapshot, a Server-Sent Events stream of snapshots
 * and device thumbnails, and two pages that run the WASM engine in the browser (sealcam/browser):
 * "Open a file" (/open) and the published vectors (/vectors, their files under /vectors/files/),
 * over plain HTTP on loopback unless told otherwise. Every route answers 401 without the token or
 * a session (auth.ts); only GET and HEAD exist, so nothing a link or an image tag can trigger
 * changes anything. The pages are static (built by esbuild into dist/src/dashboard/assets, the
 * engine bundle into dist/browser) and render the data themselves, under a CSP that allows only
 * their own scripts and styles: record text reaches the DOM as text, never as markup. The two
 * engine pages alone may compile WebAssembly ('wasm-unsafe-eval'), and /open alone may show an
 * image it made in the page (blob:).
 */

export interface DashboardOptions {
  /** host:port ([v6]:port for IPv6); default 127.0.0.1:8787. Port 0 picks a free port. */
  listen?: string;
  /**
   * What the receivers write to: an output directory, or any receiver Output (a store prefix,
   * receiver/output.ts openOutput): the records under its `.sealcam/`, the images for thumbnails.
   */
  output: string | DashboardOutput;
  /** The bearer token; default a generated one (see Dashboard.url). */
  token?: string;
  /** A camera is flagged quiet after this long without an image (default 5 min). */
  quietAfterMs?: number;
  /** How often the records are polled (default 2 s), and fully listed (default 30 s). */
  pollMs?: number;
  fullScanMs?: number;
  /** While the records cannot be read, how far the retries back off (default 30 s). */
  retryMaxMs?: number;
  /** Skipped records, and records that cannot be read (then can again), one escaped line each (never a request or a token): FleetViewOptions.onWarning. */
  onWarning?: FleetViewOptions['onWarning'];
}

/** The part of a receiver output the dashboard reads. */
export type DashboardOutput = Pick<Output, 'where' | 'records' | 'read'>;

export interface Dashboard {
  /** The login URL, token included: print it once, for the operator to open. */
  url: string;
  /** The same without the token. */
  origin: string;
  close(): Promise<void>;
}

export const DEFAULT_LISTEN = '127.0.0.1:8787';

/** Host and port from `host:port` or `[v6]:port`; the host must be an IP address or localhost. `flag` names it in the error. */
export function parseListen(text: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || host === undefined || (isIP(host) === 0 && host !== 'localhost') || (m[1] !== undefined && isIP(host) !== 6) || port > 65535) {
    throw new SealcamError('EUSAGE', `${flag} ${JSON.stringify(text)} is not an address: use host:port, e.g. 127.0.0.1:8787 or [::1]:8787`);
  }
  return { host, port };
}

const assetsDir = join(packageRoot, 'dist', 'src', 'dashboard', 'assets');
const browserDir = join(packageRoot, 'dist', 'browser');
/** Each route's file: the pages and their assets, and sealcam/browser's bundle with the engine builds. */
const ASSETS: Record<string, string> = {
  '/': join(assetsDir, 'index.html'),
  '/open': join(assetsDir, 'open.html'),
  '/vectors': join(assetsDir, 'vectors.html'),
  '/assets/app.js': join(assetsDir, 'app.js'),
  '/assets/open.js': join(assetsDir, 'open.js'),
  '/assets/vectors.js': join(assetsDir, 'vectors.js'),
  '/assets/app.css': join(assetsDir, 'app.css'),
  '/assets/favicon.svg': join(assetsDir, 'favicon.svg'),
  '/assets/sealcam.js': join(browserDir, 'sealcam.js'),
  '/assets/sealcam.wasm': join(browserDir, 'sealcam.wasm'),
  '/assets/sealcam-relaxed.wasm': join(browserDir, 'sealcam-relaxed.wasm'),
};
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  wasm: 'application/wasm',
  json: 'application/json; charset=utf-8',
  sealed: 'application/octet-stream',
};
const typeOf = (path: string) => TYPES[path.slice(path.lastIndexOf('.') + 1)] ?? 'application/octet-stream';

const csp = (script: string, img: string) =>
  `default-src 'self'; img-src ${img}; style-src 'self'; script-src ${script}; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
const CSP = csp("'self'", "'self'");
/** The pages that run the engine: WebAssembly needs 'wasm-unsafe-eval' (it allows no JavaScript eval). */
const ENGINE_PAGE_CSP: Record<string, string> = {
  '/open': csp("'self' 'wasm-unsafe-eval'", "'self' blob:"),
  '/vectors': csp("'self' 'wasm-unsafe-eval'", "'self'"),
};

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Snapshots go out at most this often, however fast records arrive. */
const PUSH_MS = 250;
/** A comment line keeps idle event streams from being cut by proxies. */
const KEEPALIVE_MS = 15_000;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const text = (res: ServerResponse, status: number, message: string, headers?: Record<string, string>) => send(res, status, 'text/plain; charset=utf-8', `${message}\n`, headers);

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { host, port } = parseListen(options.listen ?? DEFAULT_LISTEN);
  const token = checkToken(options.token ?? generateToken());
  const assets = new Map<string, Buffer>();
  for (const path of Object.values(ASSETS)) {
    const bytes = await readFile(path).catch(() => {
      throw new SealcamError('ENOENT', `the dashboard page is not built (${path} is missing): run npm run build`);
    });
    assets.set(path, bytes);
  }
  const vectors = vectorIndex();
  const output = typeof options.output === 'string' ? directoryOutput(options.output) : options.output;
  const view = await FleetView.open({
    source: output.records,
    quietAfterMs: options.quietAfterMs,
    pollMs: options.pollMs,
    fullScanMs: options.fullScanMs,
    retryMaxMs: options.retryMaxMs,
    onWarning: options.onWarning,
  });
  const thumbs = new Thumbnails(output);
  const streams = new Set<ServerResponse>();
  let auth: DashboardAuth | undefined;

  // --- Live updates --------------------------------------------------------------------------------
  let pushTimer: NodeJS.Timeout | undefined;
  let lastPush = 0;
  const push = () => {
    pushTimer = undefined;
    lastPush = Date.now();
    const frame = `data: ${JSON.stringify(view.snapshot())}\n\n`;
    for (const res of streams) res.write(frame);
  };
  view.on('change', () => {
    if (pushTimer === undefined && streams.size > 0) pushTimer = setTimeout(push, Math.max(0, lastPush + PUSH_MS - Date.now()));
  });
  const keepalive = setInterval(() => {
    for (const res of streams) res.write(': keepalive\n\n');
  }, KEEPALIVE_MS).unref();

  function events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    if (req.method === 'HEAD') return void res.end();
    res.write(`retry: 2000\ndata: ${JSON.stringify(view.snapshot())}\n\n`);
    streams.add(res);
    req.on('close', () => streams.delete(res));
  }

  async function thumbnail(req: IncomingMessage, res: ServerResponse, deviceId: string): Promise<void> {
    const latest = view.latestImage(deviceId);
    const made = latest && (await thumbs.get(latest.outputPath, latest.sha256));
    if (!latest || !made) return text(res, 404, 'no thumbnail for this camera');
    const etag = `"${latest.sha256.slice(0, 32)}"`;
    const headers = { ETag: etag, 'Cache-Control': 'private, no-cache' };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      return void res.end();
    }
    send(res, 200, 'image/jpeg', made, headers);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    if (auth === undefined) return text(res, 503, 'starting');
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const login = url.pathname === '/' ? url.searchParams.get('token') : null;
    if (login !== null && (req.method === 'GET' || req.method === 'HEAD')) {
      if (!auth.isToken(login)) return text(res, 401, 'unauthorized: the token in this URL is not the dashboard token');
      url.searchParams.delete('token');
      return text(res, 303, 'signed in', { Location: `/${url.search}`, 'Set-Cookie': auth.startSession() });
    }
    if (!auth.allows(req)) return text(res, 401, 'unauthorized: open the URL sealcam dashboard printed (it carries the token once), or send Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'only GET and HEAD', { Allow: 'GET, HEAD' });

    const asset = ASSETS[url.pathname];
    if (asset !== undefined) {
      const pageCsp = ENGINE_PAGE_CSP[url.pathname];
      if (pageCsp !== undefined) res.setHeader('Content-Security-Policy', pageCsp);
      return send(res, 200, typeOf(asset), assets.get(asset)!, { 'Cache-Control': 'no-cache' });
    }
    if (url.pathname.startsWith('/vectors/files/')) {
      const name = url.pathname.slice('/vectors/files/'.length);
      const bytes = name === 'index.json' ? Buffer.from(JSON.stringify(vectors.index)) : await vectorFile(vectors, name);
      if (bytes === undefined) return text(res, 404, 'no such vector file');
      return send(res, 200, typeOf(name), bytes, { 'Cache-Control': 'no-cache' });
    }
    if (url.pathname === '/api/fleet') return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(view.snapshot()));
    if (url.pathname === '/events') return events(req, res);
    const thumb = /^\/thumb\/([^/]+)$/.exec(url.pathname);
    if (thumb) {
      let deviceId: string;
      try {
        deviceId = decodeURIComponent(thumb[1]!);
      } catch {
        return text(res, 400, 'bad device id');
      }
      return thumbnail(req, res, deviceId);
    }
    text(res, 404, 'not found');
  }

  const server = createServer((req, res) => {
    route(req, res).catch(() => {
      // Nothing about the request is logged: its URL may hold the token.
      if (!res.headersSent) text(res, 500, 'internal error');
      else res.destroy();
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    view.close();
    clearInterval(keepalive);
    const code = (err as NodeJS.ErrnoException).code;
    throw new SealcamError(code ?? 'ELISTEN', `cannot listen on ${host}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use' : code === 'EADDRNOTAVAIL' ? 'no such local address' : String((err as Error).message)}`);
  }
  const bound = (server.address() as AddressInfo).port;
  auth = new DashboardAuth(token, `sealcam-dashboard-${bound}`);
  const origin = `http://${isIP(host) === 6 ? `[${host}]` : host}:${bound}`;

  return {
    url: `${origin}/?token=${encodeURIComponent(token)}`,
    origin,
    async close() {
      view.close();
      clearInterval(keepalive);
      clearTimeout(pushTimer);
      for (const res of streams) res.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
