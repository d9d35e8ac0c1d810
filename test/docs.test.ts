/**
 * The documentation runs as written. Every `sealcam ...` command in README.md and docs/*.md is
 * either run here verbatim, in a sandbox (its own HOME, the built CLI as `sealcam` on the PATH,
 * and the files each page says it starts from), or listed below with the reason it cannot be
 * (it needs a cloud account, or runs until stopped) and then at least checked: its command exists
 * and takes every flag it is given. docs/CLI.md's EXAMPLES are run in order and their output is
 * compared line by line; MIGRATING.md's Python runs on Debian's /usr/bin/python3 with pycryptodome.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/paths.js';
import { cleanEnv, CLI } from './helpers/cli.js';
import { tempDir } from './helpers/temp-dir.js';

const PYTHON = '/usr/bin/python3';
const DOCS = ['README.md', ...readdirSync(join(packageRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

// --- reading the pages ---------------------------------------------------------------------------

interface Block {
  doc: string;
  /** sh, python, json, ts, or '' (a plain fence, or an indented block). */
  lang: string;
  lines: string[];
  /** The heading above it. */
  section: string;
}

function blocksOf(doc: string): Block[] {
  const text = readFileSync(join(packageRoot, doc), 'utf8').split('\n');
  const out: Block[] = [];
  let section = '';
  for (let i = 0; i < text.length; i++) {
    const line = text[i]!;
    if (line.startsWith('#')) section = line.replace(/^#+\s*/, '');
    const fence = /^```(\w*)/.exec(line);
    if (fence) {
      const lines: string[] = [];
      for (i++; i < text.length && !text[i]!.startsWith('```'); i++) lines.push(text[i]!);
      out.push({ doc, lang: fence[1]!, lines, section });
    } else if (/^ {4}\$ /.test(line) && (i === 0 || text[i - 1]!.trim() === '')) {
      const lines: string[] = [];
      for (; i < text.length && text[i]!.startsWith('    '); i++) lines.push(text[i]!.slice(4));
      i--;
      out.push({ doc, lang: '', lines, section });
    }
  }
  return out;
}

/** Splits a shell line into words, keeping quoted strings whole. */
function words(line: string): string[] {
  return [...line.matchAll(/'[^']*'|"[^"]*"|\S+/g)].map((m) => m[0]);
}

/** The sealcam invocations in one shell line (pipelines, `;`, `&&`; `$ ` prompts, env prefixes and comments dropped). */
function sealcamCommands(line: string): string[] {
  const body = line.replace(/^\$ /, '').replace(/\s+#\s.*$/, '');
  return body
    .split(/\s*(?:\|\||&&|\||;)\s*/)
    .map((part) => part.replace(/^(?:time\s+|xargs\s+-0\s+|(?:[A-Z_]+=\S+\s+)+)+/, '').trim())
    .filter((part) => part.startsWith('sealcam '));
}

/** Every command line of a block: `$ ` lines of a transcript, or each line of a shell block. */
function commandLines(block: Block): string[] {
  if (block.lines.some((l) => l.startsWith('$ '))) return block.lines.filter((l) => l.startsWith('$ ')).map((l) => l.slice(2));
  if (block.lang !== 'sh') return [];
  return block.lines.filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

const everyCommand = DOCS.flatMap((doc) => blocksOf(doc).flatMap((b) => commandLines(b).flatMap((l) => sealcamCommands(l).map((cmd) => ({ doc, cmd, section: b.section })))));

// --- the sandbox ---------------------------------------------------------------------------------

const root = tempDir('sealcam-docs-');
const bin = join(root, 'bin');
mkdirSync(bin);
writeFileSync(join(bin, 'sealcam'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });

/** Commands run verbatim, by the text they have in the docs. */
const ran = new Set<string>();

interface Shell {
  status: number | null;
  out: string;
}

/** Runs `line` in `dir` (its own HOME) through sh, stdout and stderr together, as a terminal would show them. */
function sh(dir: string, line: string, env: Record<string, string> = {}): Shell {
  // A group, so the stderr of every command in a pipeline comes back, and a `> file` inside still gets only stdout.
  const r = spawnSync('/bin/sh', ['-c', `{ ${line}
} 2>&1`], {
    cwd: dir,
    env: { ...cleanEnv({ cwd: dir, env: { SEALCAM_NO_PROGRESS: '1', ...env } }), PATH: `${bin}:${process.env.PATH}` },
    encoding: 'utf8',
    timeout: 120_000,
  });
  for (const cmd of sealcamCommands(line)) ran.add(cmd);
  return { status: r.status, out: r.stdout };
}

function sandbox(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  return dir;
}

function pycryptodome(dir: string, script: string): void {
  const r = spawnSync(PYTHON, ['-c', script], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${PYTHON} failed (apt-get install python3-pycryptodome): ${r.stderr}`);
}

const TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g;
const normal = (text: string, home: string) => text.split(home).join('/home/you').replace(TIME, '<time>');

// --- docs/CLI.md ----------------------------------------------------------------------------------

describe('docs/CLI.md EXAMPLES run as written, in order, with the output shown', () => {
  const dir = sandbox('cli');
  writeFileSync(join(dir, 'photo.jpg'), randomBytes(300_000));
  mkdirSync(join(dir, 'images'));
  for (const n of ['0001', '0002']) writeFileSync(join(dir, 'images', `IMG_${n}.jpg`), randomBytes(90_000));
  mkdirSync(join(dir, 'legacy', 'day1'), { recursive: true });
  // What the seed script writes, with the key it made.
  pycryptodome(
    dir,
    `
import base64, json, os
from Cryptodome.Cipher import AES
key = os.urandom(16)
open('key.bin', 'wb').write(key)
cipher = AES.new(key, AES.MODE_EAX)
ct, tag = cipher.encrypt_and_digest(open('photo.jpg', 'rb').read())
open('legacy/day1/encrypted_image.bin', 'wb').write(ct)
json.dump({'nonce': base64.b64encode(cipher.nonce).decode(), 'tag': base64.b64encode(tag).decode()}, open('legacy/day1/encryption_metadata.json', 'w'))
`,
  );
  chmodSync(join(dir, 'key.bin'), 0o600);

  const blocks = blocksOf('docs/CLI.md').filter((b) => b.section === 'EXAMPLES');
  const steps = blocks.flatMap((b) => {
    const out: { cmd: string; expected: string[] }[] = [];
    for (const line of b.lines) {
      if (line.startsWith('$ ')) out.push({ cmd: line.slice(2), expected: [] });
      else if (line.trim() !== '') out.at(-1)!.expected.push(line);
    }
    return out;
  });
  /** Not run here, and why. */
  const NOT_RUN: Record<string, string> = {
    'time sealcam encrypt photo.jpg -o /dev/null': "it writes to the system's /dev/null, which tests never touch: test/outputs.test.ts runs it on a null device it makes",
  };

  it('has examples to run', () => expect(steps.length).toBeGreaterThan(15));

  for (const [i, step] of steps.entries()) {
    const why = NOT_RUN[step.cmd];
    if (why !== undefined) {
      it.skip(`${step.cmd}: not run, because ${why}`, () => undefined);
      continue;
    }
    it(`$ ${step.cmd}`, () => {
      if (step.cmd.startsWith('sealcam decrypt damaged.sealed')) {
        // The fixture: a sealed file (under the keyring's key) with one byte of segment 2 (counting from 0) changed.
        expect(sh(dir, 'sealcam encrypt photo.jpg -o damaged.sealed --segment-size 65536').status).toBe(0);
        const sealed = readFileSync(join(dir, 'damaged.sealed'));
        sealed[sealed.length - 300_000 + 2 * 65536 + 1000]! ^= 1;
        writeFileSync(join(dir, 'damaged.sealed'), sealed);
      }
      const r = sh(dir, step.cmd);
      const failing = step.expected.some((l) => /^(sealcam|ls): /.test(l) && !l.startsWith('sealcam: created key'));
      expect(r.status === 0, `${step.cmd} exited ${r.status}: ${r.out}`).toBe(!failing);
      expect(normal(r.out, dir).split('\n').filter(Boolean), `step ${i}`).toEqual(step.expected.map((l) => l.replace(TIME, '<time>')));
    });
  }
});

// --- README.md ------------------------------------------------------------------------------------

describe('README.md runs as written', () => {
  it('the install section: sealcam --version answers (the npm lines are the build itself)', () => {
    const dir = sandbox('readme-install');
    const r = sh(dir, 'sealcam --version');
    expect(r).toEqual({ status: 0, out: `${JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version}\n` });
    // `npm link` / `npm install -g .` link or copy this checkout: the bin entry they install is the built CLI, with a node shebang.
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin.sealcam).toBe('dist/cli/main.js');
    expect(readFileSync(join(packageRoot, pkg.bin.sealcam!), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('the first session: every line, in order, exits 0', () => {
    const dir = sandbox('readme');
    writeFileSync(join(dir, 'photo.jpg'), randomBytes(200_000));
    const block = blocksOf('README.md').find((b) => b.section === 'CLI' && b.lang === 'sh' && b.lines.some((l) => l.startsWith('sealcam encrypt photo.jpg')))!;
    for (const line of commandLines(block)) {
      const r = sh(dir, line.replace(/\s+#\s.*$/, ''));
      expect(r.status, `${line}\n${r.out}`).toBe(0);
    }
    expect(readFileSync(join(dir, 'piped.jpg'))).toEqual(readFileSync(join(dir, 'photo.jpg')));
    expect(readFileSync(join(dir, 'photo-down.jpg'))).toEqual(readFileSync(join(dir, 'photo.jpg')));
  }, 120_000);
});

// --- docs/MIGRATING.md ------------------------------------------------------------------------------

describe('docs/MIGRATING.md runs as written: the Python on pycryptodome, the shell with sealcam', () => {
  it('every block but the Azure one, in order', () => {
    const dir = sandbox('migrating');
    writeFileSync(join(dir, 'image.jpg'), randomBytes(250_000));
    const blocks = blocksOf('docs/MIGRATING.md').filter((b) => (b.lang === 'sh' || b.lang === 'python') && b.section !== 'Moving an existing Azure container');
    expect(blocks.length).toBeGreaterThan(6);
    for (const block of blocks) {
      if (block.lang === 'python') {
        const r = spawnSync(PYTHON, ['-c', block.lines.join('\n')], { cwd: dir, encoding: 'utf8' });
        expect(r.status, `python:\n${block.lines.join('\n')}\n${r.stderr}`).toBe(0);
        continue;
      }
      for (const line of commandLines(block)) {
        const r = sh(dir, line.replace(/\s+#\s.*$/, ''));
        expect(r.status, `${line}\n${r.out}`).toBe(0);
      }
    }
  }, 120_000);
});

// --- docs/CLOUD.md ------------------------------------------------------------------------------------

describe('docs/CLOUD.md: what runs without a cloud account', () => {
  it('the key rotation walkthrough, against the local store and keyring', () => {
    const dir = sandbox('walkthrough');
    const photo = (name: string, size: number, time: string) => {
      writeFileSync(join(dir, name), randomBytes(size));
      utimesSync(join(dir, name), new Date(time), new Date(time));
    };
    photo('front-door.jpg', 2_000_000, '2024-05-01T08:15:00Z');
    photo('back-yard.jpg', 1_500_000, '2024-05-02T09:30:00Z');
    const block = blocksOf('docs/CLOUD.md').find((b) => b.section === 'Key rotation walkthrough' && b.lines[0] === '$ sealcam keys create')!;
    for (const line of commandLines(block)) {
      const r = sh(dir, line);
      expect(r.status, `${line}\n${r.out}`).toBe(0);
    }
    // "A blob altered in the store is refused, and nothing is written."
    const blob = join(dir, '.sealcam/store/cam-01/2024/05/01/front-door.jpg.sealed');
    const sealed = readFileSync(blob);
    sealed[sealed.length - 2_000_000 + 4 * 65536 + 1000]! ^= 1; // in segment 4, counting from 0
    writeFileSync(blob, sealed);
    const altered = blocksOf('docs/CLOUD.md').find((b) => b.lines[0]?.includes('-o again.jpg'))!;
    const r = sh(dir, altered.lines[0]!.slice(2)); // the doc's own line
    expect(r.status).toBe(1);
    expect(r.out).toBe(`${altered.lines[1]}\n`);
  }, 120_000);

  it('"when the store cannot be reached": exit 75 and the sealed file kept in the outbox', () => {
    const dir = sandbox('unreachable');
    writeFileSync(join(dir, 'cam.jpg'), randomBytes(1000));
    const block = blocksOf('docs/CLOUD.md').find((b) => b.section === 'When the store cannot be reached')!;
    // A user of S3 has credentials; the endpoint is a closed port on 127.0.0.1.
    const r = sh(dir, block.lines[0]!.slice(2), { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'example', AWS_REGION: 'us-east-1' });
    expect(r.status).toBe(75);
    expect(normal(r.out, dir).trim().split('\n').at(-1)).toBe(block.lines[1]);
    // "sealcam upload --retry-outbox sends the entries oldest first": still unreachable, so they stay (75 again).
    const retry = sh(dir, 'sealcam upload --retry-outbox --store s3 --endpoint http://127.0.0.1:9 --container sealcam', { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'example', AWS_REGION: 'us-east-1' });
    expect(retry.status).toBe(75);
    expect(sh(dir, 'sealcam upload --retry-outbox').status).toBe(0); // the local store's outbox is empty
  }, 60_000);
});

describe('docs/FLEET.md: what runs without a cloud account', () => {
  it('provisioning and the session with recipients, signatures and a registry, as shown (fingerprints aside)', () => {
    const dir = sandbox('provisioning');
    const provisioning = blocksOf('docs/FLEET.md').find((b) => b.section === 'Provisioning a camera' && b.lang === 'sh')!;
    const fleetKey = commandLines(provisioning).find((l) => l.startsWith('sealcam keygen --type x25519 -o fleet.key'))!;
    expect(sh(dir, fleetKey.replace(/\s+#\s.*$/, '')).status).toBe(0);
    // The camera's own key goes to /etc/sealcam on a camera; here into the sandbox, and a second camera's for the forgery.
    for (const cam of ['cam-01', 'cam-02']) expect(spawnSync(process.execPath, [CLI, 'keygen', '--type', 'ed25519', '-o', join(dir, `${cam}.key`)]).status).toBe(0);
    mkdirSync(join(dir, 'registry'));
    copyFileSync(join(dir, 'cam-01.key.pub'), join(dir, 'registry', 'cam-01.pub'));
    writeFileSync(join(dir, 'photo.jpg'), randomBytes(70_000));
    utimesSync(join(dir, 'photo.jpg'), new Date('2026-12-07T10:00:00Z'), new Date('2026-12-07T10:00:00Z'));
    const session = blocksOf('docs/FLEET.md').find((b) => b.section === 'Provisioning a camera' && b.lines[0]?.startsWith('$ sealcam upload'))!;
    const fingerprint = /[0-9a-f]{32}/g;
    const rate = /\(\d+\.\d MB\/s\)/g;
    let step: { cmd: string; expected: string[] } | undefined;
    const steps: { cmd: string; expected: string[] }[] = [];
    for (const line of session.lines) {
      if (line.startsWith('$ ')) steps.push((step = { cmd: line.slice(2).replace(/\s+#\s.*$/, ''), expected: [] }));
      else if (line.trim() !== '') step!.expected.push(line);
    }
    for (const { cmd, expected } of steps) {
      const r = sh(dir, cmd);
      const failing = expected.some((l) => l.startsWith('sealcam: '));
      expect(r.status === 0, `${cmd}: ${r.out}`).toBe(!failing);
      const shown = (text: string) => text.replace(fingerprint, '<fp>').replace(rate, '(<rate>)');
      expect(shown(normal(r.out, dir)).split('\n').filter(Boolean), cmd).toEqual(expected.map(shown));
    }
  }, 60_000);

  it('sealcam receive --poll --once processes what the local store holds, then exits', () => {
    const dir = sandbox('fleet');
    expect(sh(dir, 'sealcam device --synthetic --count 2 --rate 20 --notify outbox').status).toBe(0);
    const line = blocksOf('docs/FLEET.md').flatMap(commandLines).find((l) => l.startsWith('sealcam receive --poll --once'))!;
    const r = sh(dir, line.replace(/\s+#\s.*$/, ''));
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/^received 2 images .*0 quarantined, 0 failed$/m);
  }, 60_000);
});

// --- everything else: checked, and listed with the reason it is not run ---------------------------------

/** Documented commands not run here, and why (within `section` only, when given); each is still checked against its command's --help. */
const NOT_RUN: { match: RegExp; why: string; section?: string }[] = [
  { match: /./, section: 'Moving an existing Azure container', why: 'it needs an Azure account (az login, a storage account, a vault); convert, upload and receive --poll --once run above against the local store' },
  { match: /./, section: 'Credentials', why: 'the block signs in to Azure (az login) and points at a real storage account and vault' },
  { match: /<[^>]+>|\[--/, why: 'a synopsis with placeholders (<file>, [--flag]), not a command' },
  { match: /--store azure|--provider azure-keyvault|--notify mqtt --mqtt-url mqtts:|--client-id|s3\.example\.internal/, why: 'it needs the Azure or AWS account (or the broker) it names' },
  { match: /^sealcam device --synthetic --rate 2 --count 100$/, why: '100 images at 2 a second take 50 s; test/device.test.ts runs it with --count 3' },
  { match: /^sealcam (device|receive|dashboard)\b(?!.*--once)|^sealcam simulate .*--duration|^sealcam demo\b.*--keep-open/, why: 'it runs until stopped (Ctrl-C); test/local-fleet.test.ts, test/device.test.ts, test/dashboard.test.ts and test/demo-dashboard.test.ts run these' },
  { match: /^sealcam keygen --type ed25519 -o \/etc\/sealcam\/cam-01\.key$/, why: "it writes to /etc/sealcam, a camera's own path; the session after it makes the key in the sandbox" },
  { match: /^sealcam keys recipient "\$/, why: 'it asks Azure Key Vault or AWS KMS for the key (az, aws)' },
  { match: /^sealcam bench --quick$/, why: 'it takes about 2 minutes; test/bench.test.ts runs the suite with --tiny' },
  { match: /^sealcam encrypt photo\.jpg -o \/dev\/null$/, why: "it writes to the system's /dev/null; test/outputs.test.ts runs it on a null device it makes" },
];

const helps = new Map<string, string>();
function helpOf(path: string[]): string {
  const key = path.join(' ');
  if (!helps.has(key)) {
    const r = spawnSync(process.execPath, [CLI, ...path, '--help'], { encoding: 'utf8', env: cleanEnv() });
    helps.set(key, r.status === 0 ? r.stdout : '');
  }
  return helps.get(key)!;
}

/** What is wrong with a documented command line, if anything: an unknown command or a flag it does not take. */
function problems(cmd: string): string[] {
  const tokens = words(cmd).map((t) => t.replace(/^\[|\]$/g, ''));
  const sub = tokens[1]!;
  const path = sub === 'keys' || sub === 'config' ? [sub, tokens[2]!] : sub.startsWith('-') ? [] : [sub];
  const help = helpOf(path);
  if (help === '') return [`no command 'sealcam ${path.join(' ')}'`];
  return tokens
    .filter((t) => /^--?[A-Za-z]/.test(t))
    .map((t) => t.split('=')[0]!)
    .filter((flag) => !new RegExp(`(^|[\\s,])${flag}([\\s,]|$)`, 'm').test(help))
    .map((flag) => `'sealcam ${path.join(' ')}' has no option ${flag}`);
}

describe('every documented sealcam command exists and takes the flags it is shown with', () => {
  it('found the commands of every page', () => {
    for (const doc of ['README.md', 'docs/CLI.md', 'docs/CLOUD.md', 'docs/FLEET.md', 'docs/MIGRATING.md', 'docs/DASHBOARD.md']) {
      expect(everyCommand.some((c) => c.doc === doc), doc).toBe(true);
    }
  });
  it.each(everyCommand.map((c) => [`${c.doc}: ${c.cmd}`, c.cmd] as const))('%s', (_name, cmd) => {
    expect(problems(cmd)).toEqual([]);
  });
});

const notRunBecause = (c: (typeof everyCommand)[number]): string | undefined => NOT_RUN.find((n) => n.match.test(c.cmd) && (n.section === undefined || n.section === c.section))?.why;

describe('documented commands not run here, and why', () => {
  const listed = everyCommand.filter((c) => notRunBecause(c) !== undefined);
  it.each(listed.map((c) => [`${c.doc}: ${c.cmd}`, notRunBecause(c)!] as const))('%s (because %s)', (_name, why) => {
    expect(why.length).toBeGreaterThan(0);
  });
});

// Last, once the runs above have recorded what they ran (vitest runs a file's tests in order).
describe('every documented command is accounted for', () => {
  it('is run verbatim above, or listed with the reason it is not', () => {
    const unaccounted = everyCommand.filter((c) => !ran.has(c.cmd) && notRunBecause(c) === undefined);
    expect(unaccounted.map((c) => `${c.doc} [${c.section}]: ${c.cmd}`)).toEqual([]);
  });
});
