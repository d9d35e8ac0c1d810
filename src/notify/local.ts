import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { dirname, resolve } from 'node:path';
import { SealcamError } from '../errors.js';
import { fsError } from '../io/atomic.js';
import { MqttNotifier, type MqttNotifierOptions } from './mqtt.js';
import { checkEvent, checkTelemetry, type MessageType, type Notifier, type SealedImageEvent, type TelemetrySample } from './notifier.js';

/**
 * Notifications without a cloud service: an in-process MQTT broker (aedes) on 127.0.0.1 that a
 * device and a receiver in the same process (or on the same machine) share, or a JSONL outbox file
 * another process reads.
 */

export interface LocalBroker {
  /** mqtt://127.0.0.1:<port> */
  url: string;
  port: number;
  /**
   * Takes the broker off the network: refuses connections and drops every client. Sessions and the
   * messages queued for offline persistent subscribers stay, as with a broker that persists them.
   */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface LocalBrokerOptions {
  /** 0 or none picks a free port. */
  port?: number;
  /** Sees every message a client published, as the broker accepted it (for in-process observers and tests). */
  onPublish?: (message: { clientId: string; topic: string; payload: Buffer }) => void;
}

/** Starts aedes on 127.0.0.1 (loopback only: it has no authentication). */
export async function startLocalBroker(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker();
  const { onPublish } = options;
  // client is null for the broker's own $SYS messages.
  if (onPublish) broker.on('publish', (packet, client) => client && onPublish({ clientId: client.id, topic: packet.topic, payload: packet.payload as Buffer }));
  const sockets = new Set<Socket>();
  let server: Server | undefined;

  const listen = (port: number) =>
    new Promise<number>((resolveListen, reject) => {
      const s = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        broker.handle(socket);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        resolveListen((s.address() as AddressInfo).port);
      });
    });

  const stop = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  let port: number;
  try {
    port = await listen(options.port ?? 0);
  } catch (err) {
    await new Promise<void>((r) => broker.close(() => r()));
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new SealcamError('EBROKER', `cannot start the local MQTT broker on 127.0.0.1:${options.port ?? 0}: ${code}`);
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop,
    start: async () => {
      if (!server) await listen(port);
    },
    close: async () => {
      await stop();
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}

export type LocalNotifierOptions = Omit<MqttNotifierOptions, 'url' | 'clientId' | 'username' | 'password' | 'ca' | 'cert' | 'key'> & {
  port?: number;
  clientId?: string;
};

/** An MqttNotifier wired to its own in-process broker; `url` is where receivers subscribe. */
export class LocalNotifier extends MqttNotifier {
  override readonly kind = 'local';

  private constructor(
    readonly broker: LocalBroker,
    options: LocalNotifierOptions,
  ) {
    super({ ...options, url: broker.url, clientId: options.clientId ?? 'sealcam-local-device' });
  }

  get url(): string {
    return this.broker.url;
  }

  static async start(options: LocalNotifierOptions): Promise<LocalNotifier> {
    return new LocalNotifier(await startLocalBroker({ port: options.port }), options);
  }

  override async close(): Promise<void> {
    await super.close();
    await this.broker.close();
  }
}

// --- JSONL outbox ------------------------------------------------------------------------------

export interface OutboxLine {
  type: MessageType;
  body: SealedImageEvent | TelemetrySample;
}

/**
 * Appends one JSON line per message to `file`. Each line goes out in a single write(2) on an
 * O_APPEND descriptor, then fdatasync: lines from concurrent writers never interleave, and a crash
 * can leave at most a last line without its newline, which readOutbox skips and the next append
 * closes off. Nothing is pending after an append, so flush() has nothing to wait for.
 */
export class OutboxNotifier implements Notifier {
  readonly kind = 'outbox';
  readonly file: string;
  private handle: Promise<FileHandle> | undefined;
  private writing: Promise<unknown> = Promise.resolve();
  private needsNewline = false;
  private closed = false;

  constructor(file: string) {
    if (typeof file !== 'string' || file.length === 0) throw new SealcamError('ECONFIG', 'outbox file must be a path');
    this.file = resolve(file);
  }

  private async opened(): Promise<FileHandle> {
    this.handle ??= (async () => {
      await mkdir(dirname(this.file), { recursive: true });
      const fd = await open(this.file, 'a+', 0o644);
      const { size } = await fd.stat();
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fd.read(last, 0, 1, size - 1);
        this.needsNewline = last[0] !== 0x0a; // a torn line from a crash
      }
      return fd;
    })();
    return this.handle;
  }

  private append(line: OutboxLine): Promise<void> {
    if (this.closed) return Promise.reject(new SealcamError('ECLOSED', 'outbox notifier is closed'));
    const run = this.writing.then(async () => {
      try {
        const fd = await this.opened();
        const text = (this.needsNewline ? '\n' : '') + JSON.stringify(line) + '\n';
        await fd.write(Buffer.from(text));
        this.needsNewline = false;
        await fd.datasync();
      } catch (err) {
        this.handle = undefined;
        throw fsError(err, 'append to outbox', this.file);
      }
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  async notify(event: SealedImageEvent): Promise<void> {
    return this.append({ type: 'sealed-image', body: checkEvent(event) });
  }

  async telemetry(sample: TelemetrySample): Promise<void> {
    return this.append({ type: 'telemetry', body: checkTelemetry(sample) });
  }

  async flush(): Promise<void> {
    await this.writing;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
    const fd = await this.handle?.catch(() => undefined);
    this.handle = undefined;
    await fd?.close();
  }
}

/** The whole lines of an outbox, checked again; torn or foreign lines are skipped. */
export async function readOutbox(file: string): Promise<OutboxLine[]> {
  let text: string;
  try {
    if (!(await stat(file)).isFile()) return [];
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(err, 'read outbox', file);
  }
  const lines: OutboxLine[] = [];
  for (const raw of text.split('\n').slice(0, -1)) {
    try {
      const line = JSON.parse(raw) as OutboxLine;
      const body = line.type === 'sealed-image' ? checkEvent(line.body) : line.type === 'telemetry' ? checkTelemetry(line.body) : undefined;
      if (body) lines.push({ type: line.type, body });
    } catch {
      /* a torn or foreign line */
    }
  }
  return lines;
}
