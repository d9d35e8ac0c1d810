import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, loadavg, platform, totalmem } from 'node:os';

/** What the results were measured on: recorded in every JSON and printed above every table. */
export interface Machine {
  cpuModel: string;
  /** CPUs this process may use (os.availableParallelism(): follows taskset), and CPUs online. */
  cores: number;
  cpusOnline: number;
  arch: string;
  platform: string;
  node: string;
  v8: string;
  /** Clock used for cycles/byte, and where it came from. */
  clockMHz: number | null;
  clockSource: string;
  totalMemGiB: number;
  /** The runtime validates WebAssembly SIMD 1.0. */
  wasmSimd: boolean;
  /** The engine build this process runs ('relaxed' or 'simd'), and every build the run used. */
  wasmBuild: string;
  wasmBuilds: string[];
  /** An arm64 Node under qemu user-mode emulation: the timings mean nothing. */
  emulated: boolean;
  loadAvgStart: number[];
  loadAvgEnd?: number[];
}


function lscpu(): string {
  try {
    return execFileSync('lscpu', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** The CPUs this process may run on (taskset), from /proc/self/status "Cpus_allowed_list: 0-3,7". */
export function allowedCpus(status: string): { list: string; cpus: number[] } {
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
  if (!list) return { list: '', cpus: [] };
  const cpus = list.split(',').flatMap((part) => {
    const [lo, hi] = part.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (hi ?? lo) - lo + 1 }, (_, i) => lo + i);
  });
  return { list, cpus };
}

/** The highest cpufreq maximum among the CPUs this process may use, in MHz (null without cpufreq). */
function cpufreqMaxMHz(cpus: number[]): number | null {
  const khz = cpus.flatMap((n) => {
    try {
      return [Number(readFileSync(`/sys/devices/system/cpu/cpu${n}/cpufreq/cpuinfo_max_freq`, 'utf8'))];
    } catch {
      return [];
    }
  });
  return khz.length ? Math.max(...khz) / 1000 : null;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The nominal clock, best source first: the "@ 2.60GHz" in the model name (Intel's nominal
 * frequency); the cpufreq maximum of the CPUs this process may run on, so a run pinned to the
 * little cores of a big.LITTLE board uses their clock; lscpu's "CPU max MHz" (machine-wide); then
 * /proc/cpuinfo "cpu MHz" (the current clock; on a VM the host's TSC rate).
 */
export function readClock(model: string, cpuinfo: string, lscpuText: string): { mhz: number | null; source: string } {
  const ghz = /@\s*([\d.]+)\s*GHz/i.exec(model);
  if (ghz) return { mhz: Number(ghz[1]) * 1000, source: 'nominal, from the CPU model name' };
  const allowed = allowedCpus(readOr('/proc/self/status'));
  const freq = cpufreqMaxMHz(allowed.cpus);
  if (freq) return { mhz: freq, source: `cpufreq cpuinfo_max_freq of the CPUs this process may use (${allowed.list})` };
  const max = /^CPU max MHz:\s*([\d.]+)/m.exec(lscpuText);
  if (max) return { mhz: Number(max[1]), source: "lscpu 'CPU max MHz'" };
  const cur = /^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo);
  if (cur) return { mhz: Number(cur[1]), source: "/proc/cpuinfo 'cpu MHz' (current clock; no nominal one published)" };
  return { mhz: null, source: 'n/a (no clock found)' };
}

/** (module (func (result v128) (v128.const i32x4 0 0 0 0))) */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a,
  0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x0b,
]);

export function wasmSimdAvailable(): boolean {
  return WebAssembly.validate(SIMD_PROBE);
}

/** Under qemu-user the arm64 process still reads the x86 host's /proc/cpuinfo. */
export function isEmulated(processArch: string, cpuinfo: string): boolean {
  return processArch === 'arm64' && /^vendor_id\s*:\s*(GenuineIntel|AuthenticAMD)/m.test(cpuinfo);
}

function cpuModel(cpuinfo: string): string {
  const fromOs = cpus()[0]?.model?.trim();
  if (fromOs) return fromOs;
  // ARM kernels often leave the model empty: fall back to the implementer/part lines.
  const part = /^CPU part\s*:\s*(\S+)/m.exec(cpuinfo)?.[1];
  const implementer = /^CPU implementer\s*:\s*(\S+)/m.exec(cpuinfo)?.[1];
  return part ? `ARM implementer ${implementer ?? '?'} part ${part}` : 'unknown CPU';
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export function describeMachine(wasmBuild: string, wasmBuilds: string[]): Machine {
  const info = readOr('/proc/cpuinfo');
  const model = cpuModel(info);
  const clock = readClock(model, info, lscpu());
  return {
    cpuModel: model,
    cores: availableParallelism(),
    cpusOnline: cpus().length,
    arch: arch(),
    platform: platform(),
    node: process.version,
    v8: process.versions.v8,
    clockMHz: clock.mhz,
    clockSource: clock.source,
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    wasmSimd: wasmSimdAvailable(),
    wasmBuild,
    wasmBuilds,
    emulated: isEmulated(arch(), info),
    loadAvgStart: loadavg().map(round2),
  };
}

export function finishMachine(m: Machine): void {
  m.loadAvgEnd = loadavg().map(round2);
}

/** A file-name-safe CPU name: "AMD EPYC" -> "amd-epyc". */
export function cpuSlug(model: string): string {
  return model.toLowerCase().replace(/\(r\)|\(tm\)/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'cpu';
}
