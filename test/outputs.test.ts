/**
 * Where `sealcam encrypt` and `decrypt` write, through the built CLI: character devices and FIFOs
 * (written into, never replaced), symlinks (followed to an existing target, refused when they
 * dangle), an output that is the input (refused), stdin and stdout for every layout, no unverified
 * byte on a pipe, and temp files (0600, removed by the next run once their writer is gone). The
 * devices are made by the test (mknod of the null and full devices' numbers in a temp directory),
 * never the system's own.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, constants } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { same } from './helpers/bytes.js';
import { cleanEnv, CLI, expectOk, expectOneLineError, sealcam as run, type Run } from './helpers/cli.js';
import { dirMaker } from './helpers/temp-dir.js';

const nextDir = dirMaker('sealcam-outputs-');
let dir: string;
beforeEach(() => void (dir = nextDir()));

const sealcam = (...args: string[]): Run => run(args, { cwd: dir });
const mode = (path: string): number => statSync(path).mode & 0o777;

function input(size: number, name = 'photo.jpg'): { path: string; data: Buffer } {
  const data = randomBytes(size);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, data };
}

function keygen(): string {
  const path = join(dir, 'k');
  expectOk(sealcam('keygen', '-o', path));
  return path;
}

/** A shell pipeline in the test's directory, with the CLI as `sealcam`; returns its stdout as bytes. */
function shell(script: string, stdin?: Buffer): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', script], {
    cwd: dir,
    env: { ...cleanEnv({ cwd: dir }), SEALCAM: `${process.execPath} ${CLI}` },
    input: stdin,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** mknod needs CAP_MKNOD (root here); without it the device tests are skipped, saying why. */
const canMknod = (() => {
  const probe = join(nextDir(), 'probe');
  const r = spawnSync('mknod', [probe, 'c', '1', '3']);
  return r.status === 0 && statSync(probe).isCharacterDevice();
})();

/** A character device node made here with the numbers of /dev/null (1,3) or /dev/full (1,7). */
function device(name: string, minor: 3 | 7): string {
  const path = join(dir, name);
  const r = spawnSync('mknod', [path, 'c', '1', String(minor)]);
  if (r.status !== 0) throw new Error(`mknod failed: ${r.stderr}`);
  return path;
}

/**
 * A FIFO with a reader (cat, into a file: the test's own event loop is blocked while sealcam runs,
 * so the reader must not write to a pipe of ours) that collects what is written into it.
 */
function fifoWithReader(name = 'pipe'): { path: string; done: Promise<Buffer>; release(): void } {
  const path = join(dir, name);
  expect(spawnSync('mkfifo', [path]).status).toBe(0);
  const cat = spawn('/bin/sh', ['-c', 'cat "$1" > "$1.got"', 'sh', path]);
  const done = once(cat, 'close').then(() => readFileSync(`${path}.got`));
  return {
    path,
    done,
    // When sealcam never opened the FIFO, its reader still waits for a writer: open and close one.
    release: () => {
      try {
        closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        /* the reader is gone already */
      }
    },
  };
}

describe('character devices', () => {
  it.skipIf(!canMknod)('-o a null device with --force writes into it and leaves it a device (the usual way to time a tool)', () => {
    const { path } = input(300_000);
    const nul = device('null', 3);
    expectOk(sealcam('encrypt', path, '-o', nul, '-k', keygen(), '--force'));
    expect(lstatSync(nul).isCharacterDevice()).toBe(true);
    // No --force needed: nothing is replaced.
    expectOk(sealcam('encrypt', path, '-o', nul, '-k', join(dir, 'k'), '--format', 'raw'));
    expect(lstatSync(nul).isCharacterDevice()).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it.skipIf(!canMknod)('a full device: one line naming the device and the errno, exit 1, still a device', () => {
    const { path } = input(200_000);
    const full = device('full', 7);
    const key = keygen();
    expectOneLineError(sealcam('encrypt', path, '-o', full, '-k', key), /full: no space left on device/);
    expect(lstatSync(full).isCharacterDevice()).toBe(true);
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'p.eax'), '-k', key, '--format', 'raw'));
    expectOneLineError(sealcam('decrypt', join(dir, 'p.eax'), '-o', full, '-k', key), /full: no space left on device/);
  });

  it('a socket is refused as an output before anything is done', () => {
    const { path } = input(100);
    const sock = spawnSync('/usr/bin/python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(join(dir, 'sock'))})`]);
    expect(sock.status).toBe(0);
    expectOneLineError(sealcam('encrypt', path, '-o', join(dir, 'sock'), '--force'), /output .*sock is a socket: sealcam writes regular files, character devices, FIFOs and stdout/);
  });
});

describe('FIFOs', () => {
  it('sealed streams into a FIFO, and opens from one segment run at a time; the FIFO stays a FIFO', async () => {
    const { path, data } = input(3_000_000);
    const key = keygen();
    const fifo = fifoWithReader();
    expectOk(sealcam('encrypt', path, '-o', fifo.path, '-k', key));
    const sealed = await fifo.done;
    expect(sealed.subarray(0, 8).toString('latin1')).toBe('sealcam\0');
    expect(lstatSync(fifo.path).isFIFO()).toBe(true);
    writeFileSync(join(dir, 'p.sealed'), sealed);
    const back = fifoWithReader('back');
    expectOk(sealcam('decrypt', join(dir, 'p.sealed'), '-o', back.path, '-k', key));
    expect(same(await back.done, data)).toBe(true);
  });

  it('raw into a FIFO: the plaintext arrives only after the tag verified; a tampered file sends nothing', async () => {
    const { path, data } = input(3 * 1024 * 1024 + 5);
    const key = keygen();
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'p.eax'), '-k', key, '--format', 'raw'));
    const good = fifoWithReader();
    expectOk(sealcam('decrypt', join(dir, 'p.eax'), '-o', good.path, '-k', key));
    expect(same(await good.done, data)).toBe(true);

    const sealed = readFileSync(join(dir, 'p.eax'));
    sealed[sealed.length - 1]! ^= 1; // the last ciphertext byte: everything before it would decrypt fine
    writeFileSync(join(dir, 'bad.eax'), sealed);
    const bad = fifoWithReader('bad');
    expectOneLineError(sealcam('decrypt', join(dir, 'bad.eax'), '-o', bad.path, '-k', key), /authentication failed/);
    bad.release();
    expect((await bad.done).length).toBe(0);
  });

  it('--help says what happens with a device, FIFO or stdout', () => {
    for (const command of ['encrypt', 'decrypt']) {
      const help = sealcam(command, '--help').stdout.replace(/\s+/g, ' ');
      expect(help).toMatch(/- is stdout; a character device or FIFO is written into, never replaced \(raw and sidecar only once verified, from a private 0600 temp file\); a symlink is followed to an existing target/);
    }
  });
});

describe('symlinks', () => {
  it('are followed to an existing file, which is replaced in its own directory (with --force); the link stays', () => {
    const { path, data } = input(5000);
    const key = keygen();
    mkdirSync(join(dir, 'real'));
    writeFileSync(join(dir, 'real', 'out.sealed'), 'old');
    symlinkSync(join(dir, 'real', 'out.sealed'), join(dir, 'link'));
    expectOneLineError(sealcam('encrypt', path, '-o', join(dir, 'link'), '-k', key), /output file .*link exists; use --force/);
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'link'), '-k', key, '--force'));
    expect(lstatSync(join(dir, 'link')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'real', 'out.sealed')).subarray(0, 7).toString()).toBe('sealcam');
    expectOk(sealcam('decrypt', join(dir, 'link'), '-o', join(dir, 'back'), '-k', key));
    expect(same(readFileSync(join(dir, 'back')), data)).toBe(true);
  });

  it('a dangling symlink is refused: sealcam does not create a file where a link points', () => {
    const { path } = input(100);
    symlinkSync(join(dir, 'nowhere', 'x'), join(dir, 'dangling'));
    expectOneLineError(sealcam('encrypt', path, '-o', join(dir, 'dangling'), '--force', '-k', keygen()), /output .*dangling is a symlink to nothing/);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
  });

  it('a symlink to a FIFO is written into', async () => {
    const { path, data } = input(70_000);
    const key = keygen();
    const fifo = fifoWithReader();
    symlinkSync(fifo.path, join(dir, 'to-fifo'));
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'to-fifo'), '-k', key, '--format', 'raw'));
    const sealed = await fifo.done;
    expect(sealed.length).toBe(data.length + 32);
    expect(lstatSync(join(dir, 'to-fifo')).isSymbolicLink()).toBe(true);
  });
});

describe('an output that is the input', () => {
  it.each([
    ['encrypt', 'e.bin', ['-k', 'KEY', '--format', 'raw']],
    ['encrypt', 'e.bin', []],
  ])('%s %s -o %s --force is refused in one line, and the input is untouched', (command, name, extra) => {
    const { path, data } = input(10_000, name);
    const key = keygen();
    const args = extra.map((a) => (a === 'KEY' ? key : a));
    expectOneLineError(sealcam(command, path, '-o', path, '--force', ...args), /output .*e\.bin is the input .*e\.bin itself: writing it would destroy the input/);
    expect(same(readFileSync(path), data)).toBe(true);
  });

  it('decrypt same.sealed -o same.sealed, a hard link and a symlink to the input are refused too', () => {
    const { path } = input(10_000);
    const key = keygen();
    const sealedPath = join(dir, 'same.sealed');
    expectOk(sealcam('encrypt', path, '-o', sealedPath, '-k', key));
    const before = readFileSync(sealedPath);
    expectOneLineError(sealcam('decrypt', sealedPath, '-o', sealedPath, '--force', '-k', key), /is the input .*same\.sealed itself/);
    linkSync(sealedPath, join(dir, 'hard'));
    expectOneLineError(sealcam('decrypt', sealedPath, '-o', join(dir, 'hard'), '--force', '-k', key), /output .*hard is the input/);
    symlinkSync(sealedPath, join(dir, 'soft'));
    expectOneLineError(sealcam('decrypt', sealedPath, '-o', join(dir, 'soft'), '--force', '-k', key), /output .*soft is the input/);
    // A sidecar's metadata is read too: writing over it is refused.
    expectOk(sealcam('encrypt', path, '-o', join(dir, 's.eax'), '-k', key, '--format', 'sidecar'));
    expectOneLineError(sealcam('decrypt', join(dir, 's.eax'), '-o', join(dir, 's.eax.json'), '--force', '-k', key), /output .*s\.eax\.json is the input/);
    expect(readFileSync(sealedPath)).toEqual(before);
  });

  it('stdout redirected to the input file is refused', () => {
    const { path } = input(1000);
    keygen();
    const r = shell(`$SEALCAM encrypt photo.jpg -o - -k k --format raw >> photo.jpg`);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sealcam: output stdout is the input .*photo\.jpg itself/);
    expect(statSync(path).size).toBe(1000);
  });
});

describe('stdin and stdout (-)', () => {
  it('cat a.jpg | sealcam encrypt - -o - -k k | sealcam decrypt - -o - -k k round-trips (the example of the issue)', () => {
    const { data } = input(2_500_000, 'a.jpg');
    keygen();
    const r = shell('cat a.jpg | $SEALCAM encrypt - -o - -k k | $SEALCAM decrypt - -o - -k k');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(same(r.stdout, data)).toBe(true);
  });

  it.each([
    ['sealed from the keyring', ''],
    ['raw', '-k k --format raw'],
    ['raw, nonce || ciphertext || tag', '-k k --format raw --layout nonce,ciphertext,tag'],
  ])('%s: stdin to stdout and back, bytes identical; the decrypted pipe gets nothing from a tampered input', (_name, flags) => {
    const { data } = input(1_300_000, 'a.jpg');
    keygen();
    const decryptFlags = flags.replace('--format raw', '').replace(/^$/, '');
    const sealed = shell(`$SEALCAM encrypt - -o - ${flags} < a.jpg`);
    expect(sealed.status, sealed.stderr).toBe(0);
    const opened = shell(`$SEALCAM decrypt - -o - ${decryptFlags}`, sealed.stdout);
    expect(opened.status, opened.stderr).toBe(0);
    expect(same(opened.stdout, data)).toBe(true);
    const bad = Buffer.from(sealed.stdout);
    bad[bad.length - 20]! ^= 4;
    const refused = shell(`$SEALCAM decrypt - -o - ${decryptFlags}`, bad);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^sealcam: [^\n]*(authentication failed|failed verification)[^\n]*\n$/);
    // raw verifies at its end: nothing reaches stdout; sealed releases only the segments before the bad one.
    if (flags.includes('raw')) expect(refused.stdout.length).toBe(0);
    else expect(refused.stdout.length).toBeLessThan(data.length);
  });

  it('sidecar: decrypt from stdin with --metadata; encrypt to stdout is refused (two files to write)', () => {
    const { data } = input(40_000, 'a.jpg');
    keygen();
    expectOk(sealcam('encrypt', join(dir, 'a.jpg'), '-o', join(dir, 'a.eax'), '-k', 'k', '--format', 'sidecar'));
    const opened = shell('$SEALCAM decrypt - -o - -k k --metadata a.eax.json < a.eax');
    expect(opened.status, opened.stderr).toBe(0);
    expect(same(opened.stdout, data)).toBe(true);
    expectOneLineError(sealcam('encrypt', join(dir, 'a.jpg'), '-o', '-', '-k', 'k', '--format', 'sidecar'), /--format sidecar writes two files .* -o must name a file, not stdout/);
    expectOneLineError(sealcam('decrypt', '-', '-o', join(dir, 'x'), '-k', 'k', '--format', 'sidecar'), /stdin has no metadata file beside it|name it with --metadata/);
  });

  it('upload - and download -o -: stdin sealed on its way into the store, and a blob streamed to stdout', () => {
    const { data } = input(150_000, 'a.jpg');
    const up = shell('$SEALCAM upload - --name porch.jpg --capture-time 2024-05-01T12:00:00Z < a.jpg');
    expect(up.status, up.stderr).toBe(0);
    const blob = up.stdout.toString().trim();
    expect(blob).toBe('cam-01/2024/05/01/porch.jpg.sealed');
    const down = shell(`$SEALCAM download ${blob} -o - --quiet`);
    expect(down.stderr).toBe('');
    expect(down.status).toBe(0);
    expect(same(down.stdout, data)).toBe(true);
  });

  it('-o dir/ with one input creates the directory, as it does for several', () => {
    const { path } = input(100);
    expectOk(sealcam('encrypt', path, '-o', join(dir, 'new', 'deeper') + '/', '-k', keygen()));
    expect(readdirSync(join(dir, 'new', 'deeper'))).toEqual(['photo.jpg.sealed']);
  });
});

describe('temp files', () => {
  it('are 0600 while written (unverified plaintext), the output gets its own mode, and a killed run leaves one that the next run removes', async () => {
    const { path } = input(160 * 1024 * 1024, 'clip.bin');
    const key = keygen();
    const sealedPath = join(dir, 'clip.eax');
    expectOk(sealcam('encrypt', path, '-o', sealedPath, '-k', key, '--format', 'raw'));
    expect(mode(sealedPath)).toBe(0o644 & ~process.umask());
    const out = join(dir, 'out');
    mkdirSync(out);
    const child = spawn(process.execPath, [CLI, 'decrypt', sealedPath, '-o', join(out, 'clip.bin'), '-k', key], { cwd: dir, env: cleanEnv({ cwd: dir }), stdio: 'ignore' });
    const exited = once(child, 'exit');
    const temp = () => readdirSync(out).find((f) => /^\.clip\.bin\.[0-9a-f]{12}\.\d+\.tmp$/.test(f) && statSync(join(out, f)).size > 0);
    for (const deadline = Date.now() + 30_000; temp() === undefined; ) {
      if (Date.now() > deadline) throw new Error('decrypt never started writing');
      await new Promise((r) => setTimeout(r, 2));
    }
    const name = temp()!;
    expect(mode(join(out, name))).toBe(0o600);
    expect(name).toContain(`.${child.pid}.tmp`);
    child.kill('SIGKILL');
    await exited;
    expect(readdirSync(out)).toEqual([name]); // what SIGKILL leaves: hidden, 0600, never renamed into place

    // The next run into that directory removes it (its writer is gone), and writes its own output.
    const small = input(1000, 'small.bin');
    expectOk(sealcam('encrypt', small.path, '-o', join(out, 'small.sealed'), '-k', key));
    expect(readdirSync(out)).toEqual(['small.sealed']);
  }, 120_000);

  it("a live writer's temp file is left alone", () => {
    const out = join(dir, 'out');
    mkdirSync(out);
    // This test process is alive: a temp file named with its pid is not stale.
    const live = `.x.jpg.0123456789ab.${process.pid}.tmp`;
    writeFileSync(join(out, live), 'in progress');
    const { path } = input(100);
    expectOk(sealcam('encrypt', path, '-o', join(out, 'p.sealed'), '-k', keygen()));
    expect(readdirSync(out).sort()).toEqual([live, 'p.sealed']);
  });
});
