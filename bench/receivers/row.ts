/**
 * One row of the receiver benchmark: R receiver processes (child.ts) in one share group on a
 * freshly started broker, one notification per sealed image published as the clock starts, the
 * clock stopped when the last image's outcome arrives. The receivers are warmed up and subscribed
 * before the clock starts and stopped after it ends, so the figure is the steady work of opening
 * and publishing images, not process start-up. A row counts only if every image is in the output
 * exactly once and byte for byte (fleet.ts checkOutput) and the receivers' counters agree.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { DEFAULTS } from '../../src/config.js';
import type { EngineName } from '../../src/engine/types.js';
import { topicFor } from '../../src/notify/notifier.js';
import { packageRoot } from '../../src/paths.js';
import type { ReceiverStats } from '../../src/receiver/index.js';
import { AzureBlobStore } from '../../src/storage/azure.js';
import type { Azurite, Mosquitto } from '../servers.js';
import type { ChildMessage, ParentMessage, ReceiverJob } from './child.js';
import { checkOutput, type Fleet, type SealedImage } from './fleet.js';

const CHILD = join(packageRoot, 'dist', 'bench', 'receivers', 'child.js');
const SHARE_GROUP = 'bench';
const OUTPUT_PREFIX = 'images/';

export interface RowEnvironment {
  azurite: Azurite;
  mosquitto: Mosquitto;
  fleet: Fleet;
  /** The container the cameras sealed into. */
  source: string;
  concurrency: number;
  jobs: number;
  engine: EngineName;
  /** Events published a second time (the first ones, the same JSON again), as a camera that resends. */
  republish: number;
  /** The longest a row may take from the first notification to the last outcome. */
  timeoutMs: number;
}

export interface RowPlan {
  /** Which payload (its label) and which pass over the receiver counts. */
  payload: string;
  round: number;
  receivers: number;
  images: readonly SealedImage[];
  /** Opened by each receiver before it subscribes (into a prefix of its own, outside the output). */
  warmup: readonly SealedImage[];
}

export interface ReceiverFigures {
  opened: number;
  duplicates: number;
  redeliveries: number;
  quarantined: number;
  failed: number;
  peakRssMiB: number;
  /** CPU (user + system, all its threads) from subscribed to told to stop. */
  cpuSeconds: number;
}

export interface RowResult {
  payload: string;
  round: number;
  receivers: number;
  images: number;
  /** Plaintext bytes of the images. */
  bytes: number;
  /** First notification published to last outcome. */
  seconds: number;
  imagesPerSecond: number;
  /** Plaintext, 10^6 bytes per second. */
  mbps: number;
  perReceiver: ReceiverFigures[];
  duplicates: number;
  redeliveries: number;
  /** CPU of the servers over the same interval. */
  azuriteCpuSeconds: number | null;
  mosquittoCpuSeconds: number | null;
  /**
   * What other processes kept busy meanwhile, in cores: the machine's busy CPU time less the
   * receivers', the servers' and this process's, per second. The noise gauge of a shared machine.
   */
  otherCores: number | null;
  status: 'ok' | 'FAILED';
  problems: string[];
}

/** Linux's USER_HZ: /proc times are in these ticks on every architecture Node supports. */
const TICKS_PER_SECOND = 100;

/** user + system CPU seconds of a process from /proc/<pid>/stat; null without /proc. */
export function processCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: utime, stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * CPU seconds the whole machine was busy (all CPUs), from /proc/stat; steal included (time this
 * VM's CPUs wanted and the host gave to others). Null without /proc.
 */
export function machineBusySeconds(): number | null {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

const ownCpuSeconds = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

const since = (before: number | null, now: number | null): number | null => (before === null || now === null ? null : now - before);

/** A receiver child: its messages sorted into promises the row waits on. */
class ReceiverProcess {
  readonly child: ChildProcess;
  readonly errors: string[] = [];
  readonly ready: Promise<void>;
  readonly done: Promise<Extract<ChildMessage, { type: 'done' }>>;

  constructor(job: ReceiverJob, onResult: (m: Extract<ChildMessage, { type: 'result' }>) => void) {
    this.child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let ready!: () => void;
    let done!: (m: Extract<ChildMessage, { type: 'done' }>) => void;
    let fail!: (e: Error) => void;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => undefined);
    this.ready = Promise.race([new Promise<void>((r) => (ready = r)), failed]);
    this.done = Promise.race([new Promise<Extract<ChildMessage, { type: 'done' }>>((r) => (done = r)), failed]);
    // A row that gives up early (one receiver never got ready) does not wait on the others' ends.
    this.ready.catch(() => undefined);
    this.done.catch(() => undefined);
    this.child.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') ready();
      else if (m.type === 'result') onResult(m);
      else if (m.type === 'error') this.errors.push(`rx-${job.index}: ${m.message}`);
      else if (m.type === 'done') done(m);
      else fail(new Error(`rx-${job.index} failed: ${m.message}`));
    });
    this.child.once('error', (e) => fail(e));
    this.child.once('exit', (code, signal) => fail(new Error(`rx-${job.index} exited (${signal ?? code}) before it reported`)));
    this.child.send({ type: 'job', job } satisfies ParentMessage);
  }

  stop(): void {
    if (this.child.connected) this.child.send({ type: 'stop' } satisfies ParentMessage);
  }

  /** Ends the process if it is still there after `ms` (a child that hung). */
  async reap(ms: number): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(timer);
  }
}

/** Rejects after `ms` with `what`; the timer does not hold the process. */
function deadline(ms: number, what: () => string): { promise: Promise<never>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what())), ms)));
  promise.catch(() => undefined);
  return { promise, clear: () => clearTimeout(timer) };
}

async function deleteContainer(connectionString: string, name: string): Promise<void> {
  const { BlobServiceClient } = await import('@azure/storage-blob');
  await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(name).deleteIfExists();
}

export async function runRow(env: RowEnvironment, plan: RowPlan, index: number): Promise<RowResult> {
  const { azurite, mosquitto } = env;
  const expected = plan.images.length;
  const published = [...plan.images, ...plan.images.slice(0, env.republish)].map((i) => i.event);
  const container = `rx-row-${index}`;
  const problems: string[] = [];
  const opened = new Set<string>();
  let outcomes = 0;
  let lastOutcome = 0;
  let finished!: () => void;
  const allIn = new Promise<void>((r) => (finished = r));
  const onResult = (m: Extract<ChildMessage, { type: 'result' }>) => {
    outcomes++;
    lastOutcome = performance.now();
    if (m.status === 'opened') opened.add(m.blobName);
    else if (m.status !== 'duplicate') problems.push(`${m.blobName} was ${m.status}${m.reason ? `: ${m.reason}` : ''}`);
    // Every event has an outcome, and every image opened (or something went wrong: no use waiting).
    if (outcomes >= published.length && (opened.size >= expected || problems.length > 0)) finished();
  };

  // A broker without persistence, started again: no session or queue of the row before is left.
  await mosquitto.restart();
  const receivers = Array.from(
    { length: plan.receivers },
    (_, i) =>
      new ReceiverProcess(
        {
          index: i + 1,
          url: mosquitto.url,
          share: SHARE_GROUP,
          connectionString: azurite.connectionString,
          source: env.source,
          output: container,
          prefix: OUTPUT_PREFIX,
          identityFile: env.fleet.identityFile,
          registryDir: env.fleet.registryDir,
          concurrency: env.concurrency,
          jobs: env.jobs,
          engine: env.engine,
          warmup: plan.warmup.map((w) => w.event),
        },
        onResult,
      ),
  );
  let seconds = NaN;
  const figures: ReceiverFigures[] = [];
  let serverCpu: { azurite: number | null; mosquitto: number | null; machine: number | null; own: number } = { azurite: null, mosquitto: null, machine: null, own: 0 };
  let camera: MqttClient | undefined;
  try {
    camera = await connectAsync(mosquitto.url, { clientId: `bench-cameras-${index}` });
    const cameras = camera;
    await Promise.all(receivers.map((r) => r.ready));
    const cpuBefore = { azurite: processCpuSeconds(azurite.pid), mosquitto: processCpuSeconds(mosquitto.pid()), machine: machineBusySeconds(), own: ownCpuSeconds() };
    const started = performance.now();
    const limit = deadline(env.timeoutMs, () => `timed out after ${env.timeoutMs / 1000} s: ${opened.size} of ${expected} images opened, ${outcomes} of ${published.length} outcomes`);
    try {
      await Promise.race([
        Promise.all([...published.map((e) => cameras.publishAsync(topicFor(DEFAULTS.notify.topic, e.deviceId), JSON.stringify(e), { qos: 1 })), allIn]),
        // A receiver that ends before it is told to ends the row.
        ...receivers.map((r, i) => r.done.then((): never => { throw new Error(`rx-${i + 1} stopped before the row was done`); })),
        limit.promise,
      ]);
      seconds = (lastOutcome - started) / 1000;
      serverCpu = {
        azurite: since(cpuBefore.azurite, processCpuSeconds(azurite.pid)),
        mosquitto: since(cpuBefore.mosquitto, processCpuSeconds(mosquitto.pid())),
        machine: since(cpuBefore.machine, machineBusySeconds()),
        own: ownCpuSeconds() - cpuBefore.own,
      };
    } catch (e) {
      problems.push((e as Error).message);
    } finally {
      limit.clear();
    }
    for (const r of receivers) r.stop();
    for (const r of receivers) {
      try {
        const { stats, peakRssMiB, cpuMs } = await r.done;
        figures.push(receiverFigures(stats, peakRssMiB, cpuMs));
      } catch (e) {
        problems.push((e as Error).message);
      }
      problems.push(...r.errors);
    }
  } catch (e) {
    problems.push((e as Error).message);
  } finally {
    await camera?.endAsync().catch(() => undefined);
    for (const r of receivers) r.stop();
    await Promise.all(receivers.map((r) => r.reap(10_000)));
  }

  const sum = (f: (r: ReceiverFigures) => number) => figures.reduce((n, r) => n + f(r), 0);
  if (figures.length === plan.receivers && sum((r) => r.opened) !== expected) problems.push(`the receivers counted ${sum((r) => r.opened)} images opened, ${expected} were sent`);
  if (problems.length === 0) {
    const output = new AzureBlobStore({ container, connectionString: azurite.connectionString });
    problems.push(...(await checkOutput(output, OUTPUT_PREFIX, plan.images)));
  }
  await deleteContainer(azurite.connectionString, container).catch(() => undefined);
  const bytes = plan.images.reduce((n, i) => n + i.bytes, 0);
  const ok = problems.length === 0;
  const ours = [serverCpu.azurite, serverCpu.mosquitto].every((c) => c !== null) ? serverCpu.azurite! + serverCpu.mosquitto! + serverCpu.own + sum((r) => r.cpuSeconds) : null;
  // The receivers' CPU runs from ready to stop, a little longer than the timed part: never below 0.
  const otherCores = ours === null || serverCpu.machine === null || !(seconds > 0) ? null : Math.max(0, serverCpu.machine - ours) / seconds;
  return {
    payload: plan.payload,
    round: plan.round,
    receivers: plan.receivers,
    images: expected,
    bytes,
    seconds,
    imagesPerSecond: ok ? expected / seconds : NaN,
    mbps: ok ? bytes / 1e6 / seconds : NaN,
    perReceiver: figures,
    duplicates: sum((r) => r.duplicates),
    redeliveries: sum((r) => r.redeliveries),
    azuriteCpuSeconds: serverCpu.azurite,
    mosquittoCpuSeconds: serverCpu.mosquitto,
    otherCores,
    status: ok ? 'ok' : 'FAILED',
    problems,
  };
}

function receiverFigures(s: ReceiverStats, peakRssMiB: number, cpuMs: number): ReceiverFigures {
  return { opened: s.opened, duplicates: s.duplicates, redeliveries: s.redeliveries, quarantined: s.quarantined, failed: s.failed, peakRssMiB, cpuSeconds: cpuMs / 1000 };
}
