/**
 * Local servers that the receiver benchmark and the tests both start, all on 127.0.0.1 (see
 * ../shared/TESTING.md). They live here, not under test/, because the benchmark runs from dist/
 * and the tests import bench modules already; test/fixtures/servers.ts re-exports them beside the
 * servers only tests use (s3rver, Ceph, a recording proxy).
 *
 *   Azurite   the Azure Storage emulator (npm azurite), blob service in memory, ~0.5 s to start
 *   Mosquitto Debian's MQTT 5 broker, for shared subscriptions (aedes has none); our own process
 *             on free ports with a generated config, never the system service
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';

export const HOST = '127.0.0.1';

/** A port nobody listens on right now (the kernel's choice of a free ephemeral port). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createNetServer();
    server.once('error', fail);
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

/** Starts `command`, resolving with its output once `ready` matches it; rejects if it exits first. */
export function startProcess(
  command: string,
  args: string[],
  ready: RegExp,
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let output = '';
    const timer = setTimeout(() => fail(new Error(`${command} did not start within ${timeoutMs} ms:\n${output.slice(-2000)}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(ready);
      if (match) {
        clearTimeout(timer);
        done({ child, match, output: () => output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!output.match(ready)) fail(new Error(`${command} exited with ${code} before it was ready:\n${output.slice(-2000)}`));
    });
  });
}

/** SIGTERM, resolved once the process is gone. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

/** Resolves once something accepts connections on `port`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((done) => {
      const socket = connectTcp(port, HOST);
      socket.once('connect', () => (socket.destroy(), done(true)));
      socket.once('error', () => done(false));
    });
    if (open) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${HOST}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// --- Azurite -------------------------------------------------------------------------------------

/** Azurite's well-known development account; not a secret. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  port: number;
  /** The server process, for CPU accounting. */
  pid: number | undefined;
  blobUrl: string;
  connectionString: string;
  stop(): Promise<void>;
}

export async function startAzurite(port?: number): Promise<Azurite> {
  const blobPort = port ?? (await freePort());
  const main = join(packageRoot, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js');
  const { child } = await startProcess(
    process.execPath,
    [main, '--blobHost', HOST, '--blobPort', String(blobPort), '--inMemoryPersistence', '--skipApiVersionCheck', '--disableTelemetry', '--silent'],
    /successfully listens on/,
    20_000,
  );
  const blobUrl = `http://${HOST}:${blobPort}/${AZURITE_ACCOUNT}`;
  return {
    port: blobPort,
    pid: child.pid,
    blobUrl,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobUrl};`,
    stop: () => stopChild(child),
  };
}

// --- Mosquitto -----------------------------------------------------------------------------------

/** Debian installs it in /usr/sbin, which is not on every user's PATH. */
export const MOSQUITTO = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';

export interface MosquittoOptions {
  /**
   * Keep sessions and queued messages in a temp directory across restart() (default true), as a
   * real deployment would; false: a restart forgets everything.
   */
  persistence?: boolean;
  /** Messages queued per client beyond those in flight (Mosquitto's default 1000; 0: no limit). */
  maxQueuedMessages?: number;
}

export interface Mosquitto {
  /** The anonymous listener. */
  url: string;
  /** The listener that wants a user name and password (one of `users`). */
  authUrl: string;
  /** The broker process now (restart() makes a new one), for CPU accounting. */
  pid(): number | undefined;
  /**
   * Stops the broker (SIGTERM: it saves its sessions) and starts it again on the same ports; with
   * `forget`, its saved state is deleted in between, as a broker without persistence loses it.
   */
  restart(options?: { forget?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Mosquitto 2 with an anonymous listener and a password listener (`per_listener_settings`).
 * Waits until the ports accept connections.
 */
export async function startMosquitto(users: Record<string, string> = {}, options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'sealcam-mosquitto-'));
  const [port, authPort] = [await freePort(), await freePort()];
  const passwords = join(dir, 'passwords');
  writeFileSync(passwords, '');
  for (const [user, password] of Object.entries(users)) {
    const made = spawnSync('mosquitto_passwd', ['-b', passwords, user, password], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`mosquitto_passwd failed: ${made.stderr}`);
  }
  const persistence = options.persistence ?? true;
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(
    config,
    [
      // Run as root (CI), it would switch to the mosquitto user, who cannot read our temp directory.
      `user ${userInfo().username}`,
      'per_listener_settings true',
      ...(persistence ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 1'] : ['persistence false']),
      ...(options.maxQueuedMessages === undefined ? [] : [`max_queued_messages ${options.maxQueuedMessages}`]),
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      `listener ${port} ${HOST}`,
      'allow_anonymous true',
      `listener ${authPort} ${HOST}`,
      'allow_anonymous false',
      `password_file ${passwords}`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  // Ready when both ports accept connections (its start-up log lines do not reach a pipe).
  const start = async () => {
    const started = spawn(MOSQUITTO, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    let output = '';
    started.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<never>((_, fail) => started.once('exit', (code) => fail(new Error(`mosquitto exited with ${code}: ${output.slice(-1000)}`))));
    await Promise.race([Promise.all([port, authPort].map((p) => waitForPort(p))), exited]);
    exited.catch(() => undefined);
  };
  await start();
  return {
    url: `mqtt://${HOST}:${port}`,
    authUrl: `mqtt://${HOST}:${authPort}`,
    pid: () => child?.pid,
    restart: async (restartOptions = {}) => {
      if (child) await stopChild(child);
      if (restartOptions.forget) rmSync(join(dir, 'mosquitto.db'), { force: true });
      await start();
    },
    stop: async () => {
      if (child) await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
