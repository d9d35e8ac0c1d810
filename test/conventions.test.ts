/**
 * The command line's conventions, through the built CLI: keys a user can find (the per-user
 * keyring under a temporary HOME / XDG_CONFIG_HOME), `config check` (origins, only the settings in
 * use, redaction, warnings, --bucket, --json), text from a file printed escaped, --jobs bounded,
 * help with real defaults, --json and --quiet, and colour only on a terminal without NO_COLOR.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { sealBuffer } from '../src/formats/sealed.js';
import { colorEnabled, escapeText, limitRepeats } from '../src/cli/output.js';
import { SealPool } from '../src/pool/pool.js';
import { CLI, cleanEnv, createdKeyLine, expectOk, expectOkCreatingKey, expectOneLineError, sealcam as run, userKeyring, type Run } from './helpers/cli.js';
import { dirMaker } from './helpers/temp-dir.js';

const nextDir = dirMaker('sealcam-conventions-');
let dir: string;
beforeEach(() => void (dir = nextDir()));

const sealcam = (args: string[], env: Record<string, string> = {}): Run => run(args, { cwd: dir, env });

function photo(size = 5000, name = 'photo.jpg'): string {
  const path = join(dir, name);
  writeFileSync(path, randomBytes(size));
  return path;
}

describe('keys a user can find', () => {
  it('encrypt without -k uses the per-user keyring ($XDG_CONFIG_HOME/sealcam/keys), announced once with its absolute path', () => {
    const xdg = join(dir, 'xdg');
    const work1 = join(dir, 'work1');
    const work2 = join(dir, 'work2');
    mkdirSync(work1);
    mkdirSync(work2);
    const env = { XDG_CONFIG_HOME: xdg };
    const key = join(xdg, 'sealcam', 'keys', 'sealcam-kek', '1.key');
    expectOkCreatingKey(run(['encrypt', photo(), '-o', join(work1, 'a.sealed')], { cwd: work1, env }), key);
    // Another directory finds the same key: nothing is created, nothing said; deleting work1 loses nothing.
    expectOk(run(['encrypt', photo(), '-o', join(work2, 'b.sealed')], { cwd: work2, env }));
    expect(existsSync(join(work1, '.sealcam'))).toBe(false);
    expectOk(run(['decrypt', join(work1, 'a.sealed'), '-o', join(work2, 'a.jpg')], { cwd: work2, env }));
  });

  it('without XDG_CONFIG_HOME (or with a relative one, which the XDG spec ignores) the keyring is ~/.config/sealcam/keys', () => {
    const home = join(dir, 'home');
    mkdirSync(home);
    for (const xdg of ['', 'relative/dir']) {
      const r = sealcam(['keys', 'create', `k${xdg.length}`], { HOME: home, XDG_CONFIG_HOME: xdg });
      expectOkCreatingKey(r, join(home, '.config', 'sealcam', 'keys', `k${xdg.length}`, '1.key'));
    }
  });

  it('key errors name absolute paths; a wrong -k names the file that was passed', () => {
    const sealedPath = join(dir, 'p.sealed');
    expect(sealcam(['encrypt', photo(), '-o', sealedPath]).status).toBe(0);
    expectOneLineError(sealcam(['keys', 'show-version', '7']), new RegExp(`has no version 7 in ${userKeyring(dir)} \\(versions: 1\\)`));
    expectOk(sealcam(['keygen', '-o', join(dir, 'other.key')]));
    expectOneLineError(sealcam(['decrypt', sealedPath, '-o', join(dir, 'x'), '-k', 'other.key']), /wrong key: .*\(key from -k other\.key\)$/m);
    expectOneLineError(sealcam(['decrypt', sealedPath, '-o', join(dir, 'x'), '-k', 'missing.key']), /key file missing\.key not found/);
  });
});

describe('sealcam config check', () => {
  it('shows only the settings the chosen kinds use, each with its origin', () => {
    const local = sealcam(['config', 'check']);
    expect(local.status).toBe(0);
    expect(local.stdout).toContain('store.dir = .sealcam/store  [default]');
    expect(local.stdout).not.toMatch(/store\.(accountUrl|region|endpoint|sse)|keys\.vaultUrl|notify\.iothub/);
    const s3 = sealcam(['config', 'check', '--store', 's3', '--sse', 'kms', '--kms-key-id', 'alias/x'], { SEALCAM_S3_REGION: 'eu-west-1' });
    expect(s3.status, s3.stderr).toBe(0);
    expect(s3.stdout).toContain('store.kind = s3  [flag --store]');
    expect(s3.stdout).toContain('store.region = eu-west-1  [env SEALCAM_S3_REGION]');
    expect(s3.stdout).toContain('store.kmsKeyId = alias/x  [flag --kms-key-id]');
    expect(s3.stdout).toContain('store.endpoint = (not set)  [default]');
    expect(s3.stdout).not.toMatch(/store\.dir|store\.accountUrl|sseCustomerKeyName/);
    expect(sealcam(['config', 'check', '--all']).stdout).toMatch(/store\.accountUrl = \(not set\)/);
  });

  it('redacts credentials inside URLs (a password, a SAS query), and warns where a setting cannot work', () => {
    writeFileSync(
      join(dir, 'sealcam.config.json'),
      JSON.stringify({ notify: { kind: 'mqtt', url: 'mqtt://cam:s3cret-pw@broker.local:1883' }, store: { kind: 's3', endpoint: 'http://minio.local:9000', region: 'x', sse: 'c' } }),
    );
    const r = sealcam(['config', 'check']);
    expect(r.stdout + r.stderr).not.toContain('s3cret-pw');
    expect(r.stdout).toContain('notify.url = mqtt://cam:***@broker.local:1883  [file sealcam.config.json]');
    expect(r.stderr).toContain('sealcam: warning: store.sse is c but store.endpoint http://minio.local:9000/ is plain http://: S3 refuses customer keys (SSE-C) over HTTP; use https://');
    expect(r.stderr).toContain('sealcam: warning: notify.url carries a user name or password over plain mqtt://');
    expect(r.status).toBe(0); // warnings do not fail the check
    const sas = sealcam(['config', 'check'], { SEALCAM_STORE: 'azure', SEALCAM_AZURE_ACCOUNT_URL: 'https://acct.blob.core.windows.net/?sv=2024&sig=SECRETSIG' });
    expect(sas.stdout).toContain('store.accountUrl = https://acct.blob.core.windows.net/?***  [env SEALCAM_AZURE_ACCOUNT_URL]');
    expect(sas.stdout + sas.stderr).not.toContain('SECRETSIG');
  });

  it('--bucket (and store.bucket, SEALCAM_BUCKET) is the S3 name for the container; two different values are refused', () => {
    const flag = sealcam(['config', 'check', '--store', 's3', '--bucket', 'my-bucket'], { AWS_REGION: 'x' });
    expect(flag.stdout).toContain('store.container = my-bucket  [flag --bucket]');
    writeFileSync(join(dir, 'sealcam.config.json'), JSON.stringify({ store: { kind: 's3', bucket: 'from-file' } }));
    expect(sealcam(['config', 'check'], { AWS_REGION: 'x' }).stdout).toContain('store.container = from-file  [file sealcam.config.json]');
    expect(sealcam(['config', 'check'], { AWS_REGION: 'x', SEALCAM_BUCKET: 'env-bucket' }).stdout).toContain('store.container = env-bucket  [env SEALCAM_BUCKET]');
    expectOneLineError(sealcam(['config', 'check', '--bucket', 'a', '--container', 'b']), /--container and --bucket both set store.container, to different values/);
    expect(sealcam(['ls', '--help']).stdout).toContain('--bucket <value>');
  });

  it('--json: the settings, origins, warnings and problems as one document', () => {
    const r = sealcam(['config', 'check', '--json', '--jobs', '-1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as { ok: boolean; settings: { setting: string; value: unknown; from: string; by?: string }[]; problems: { setting: string }[] };
    expect(doc.ok).toBe(false);
    expect(doc.settings.find((s) => s.setting === 'keys.dir')).toEqual({ setting: 'keys.dir', value: userKeyring(dir), from: 'default' });
    expect(doc.problems.map((p) => p.setting)).toEqual(['seal.jobs']);
  });
});

describe('text from a file is printed escaped', () => {
  it('a key id with a newline and terminal escape codes stays inside the one-line error', () => {
    const kek = randomBytes(16);
    const hostile = 'cam\nsealcam: everything is fine\u001b[2J\u001b]0;owned\u0007';
    writeFileSync(join(dir, 'evil.sealed'), sealBuffer(randomBytes(100), { kek, keyId: hostile, keyVersion: '1\r2' }));
    expectOk(sealcam(['keygen', '-o', join(dir, 'k')]));
    const r = sealcam(['decrypt', join(dir, 'evil.sealed'), '-o', join(dir, 'x'), '-k', 'k']);
    expectOneLineError(r, /key cam\\nsealcam: everything is fine\\e\[2J\\e\]0;owned\\x07 version 1\\r2/);
    expect(r.stderr).not.toContain('\u001b');
  });

  it('escapeText shows controls, DEL, C1 and bidi overrides as escapes and leaves other text alone', () => {
    expect(escapeText('a\tb\u0000c\u007fd\u009be\u202ef\u2028g')).toBe('a\\tb\\x00c\\x7fd\\x9be\\u202ef\\u2028g');
    expect(escapeText('café 東京 ☃')).toBe('café 東京 ☃');
  });
});

describe('--jobs is bounded', () => {
  const max = 4 * availableParallelism();
  it(`refuses more than 4 x cores (${max} here) with the reason, on every command that takes it`, () => {
    const reason = new RegExp(`seal\\.jobs 5000 workers is more than ${max} \\(4 x the ${availableParallelism()} cores? here\\): each worker is a thread with its own engine and buffers`);
    expectOneLineError(sealcam(['encrypt', photo(), '-o', join(dir, 'x'), '--jobs', '5000']), reason);
    expectOneLineError(sealcam(['decrypt', photo(), '-o', join(dir, 'x'), '--jobs', '100000']), /seal\.jobs 100000 workers is more than/);
    expect(sealcam(['config', 'check', '--jobs', '5000']).stderr).toMatch(reason);
    expectOneLineError(sealcam(['upload', photo(), '--jobs', '5000']), reason);
    expect(() => new SealPool({ jobs: max + 1 })).toThrow(/is more than/);
    // The bound itself is allowed (checked without starting that many threads).
    expect(sealcam(['config', 'check', '--jobs', String(max)]).status).toBe(0);
    expectOk(sealcam(['encrypt', photo(), '-o', join(dir, 'ok.sealed'), '--jobs', '2', '-k', keyFile()]));
  });
});

function keyFile(): string {
  const path = join(dir, 'k');
  if (!existsSync(path)) expectOk(sealcam(['keygen', '-o', path]));
  return path;
}

describe('help', () => {
  it('shows the real defaults, not the names of settings', () => {
    const encrypt = sealcam(['encrypt', '--help']).stdout;
    expect(encrypt).not.toMatch(/\(default: (keys|seal|store)\./);
    expect(encrypt.replace(/\s+/g, ' ')).toMatch(/--key-name <value> key-encryption key name \(default: sealcam-kek\)/);
    expect(encrypt.replace(/\s+/g, ' ')).toContain(`(default: ${userKeyring(dir)})`);
    expect(sealcam(['simulate', '--help']).stdout.replace(/\s+/g, ' ')).toMatch(/--devices <n> number of cameras \(default: "3"\).*--rate <r> images per second per camera \(default: "1"\)/);
    expect(sealcam(['bench', '--help']).stdout.replace(/\s+/g, ' ')).toMatch(/--quick about 2 minutes \(118 s on a shared 2-core VM/);
  });

  it('simulate runs without --devices and --rate', () => {
    const r = sealcam(['simulate', '--count', '1', '--notify', 'outbox', '--jobs', '1', '--frame-size', '4096', '--json'], { SEALCAM_NO_PROGRESS: '1' });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { event: string; devices: number; images: number };
    expect(report).toMatchObject({ event: 'summary', devices: 3, images: 3 });
  });
});

describe('--json and --quiet', () => {
  it('keys list --json is an array of versions; keys create --quiet keeps the table (a result) and the created-key line', () => {
    const created = sealcam(['keys', 'create', '--quiet']);
    expect(created.stderr).toBe(createdKeyLine(join(userKeyring(dir), 'sealcam-kek', '1.key')));
    const list = sealcam(['keys', 'list', '--json']);
    expect(list.status).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([{ name: 'sealcam-kek', version: '1', created: expect.any(String), enabled: true, provider: 'local' }]);
  });

  it('upload --json gives a line per file; encrypt --json one per output', () => {
    const p = photo();
    const up = sealcam(['upload', p, '--capture-time', '2024-01-01T00:00:00Z', '--json']);
    expect(up.status, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toEqual({ file: p, blob: 'cam-01/2024/01/01/photo.jpg.sealed', status: 'stored' });
    const enc = sealcam(['encrypt', p, '-o', join(dir, 'e.sealed'), '--json']);
    expect(JSON.parse(enc.stdout)).toEqual({ input: p, output: join(dir, 'e.sealed'), layout: 'sealed' });
  });

  it('device and receive --json: a line per image and one for the summary; --quiet keeps only the summary', () => {
    const env = { SEALCAM_NO_PROGRESS: '1', SEALCAM_JOBS: '1' };
    const cam = sealcam(['device', '--synthetic', '--count', '2', '--rate', '50', '--frame-size', '4096', '--notify', 'outbox', '--json'], env);
    expect(cam.status, cam.stderr).toBe(0);
    const events = cam.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; blob?: string });
    expect(events.map((e) => e.event)).toEqual(['sent', 'sent', 'summary']);
    const rx = sealcam(['receive', '--poll', '--once', '--json'], env);
    expect(rx.status, rx.stderr).toBe(0);
    const got = rx.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; blob?: string; opened?: number });
    expect(got.filter((e) => e.event === 'opened').map((e) => e.blob).sort()).toEqual(events.slice(0, 2).map((e) => e.blob).sort());
    expect(got.at(-1)).toMatchObject({ event: 'summary', opened: 2, quarantined: 0 });
    const quiet = sealcam(['device', '--synthetic', '--count', '1', '--rate', '50', '--frame-size', '4096', '--notify', 'outbox', '--quiet'], env);
    expect(quiet.stdout).toMatch(/^cam-01: 1 image sent .*\n$/);
  });
});

describe('colour', () => {
  /** Runs sealcam on a pseudo-terminal (script(1)), so stderr is a terminal. */
  function onTerminal(args: string, env: Record<string, string>): string {
    const r = spawnSync('script', ['-qfec', `${process.execPath} ${CLI} ${args}`, '/dev/null'], { cwd: dir, env: { ...cleanEnv({ cwd: dir }), TERM: 'xterm', ...env }, encoding: 'utf8' });
    return r.stdout;
  }

  it('on a terminal the error prefix is coloured; NO_COLOR (any value) or TERM=dumb turns it off', () => {
    expect(onTerminal('decrypt missing.sealed -o x', {})).toContain('\u001b[31msealcam:\u001b[0m input file missing.sealed not found');
    expect(onTerminal('decrypt missing.sealed -o x', { NO_COLOR: '1' })).toMatch(/^sealcam: input file missing\.sealed not found\r?\n$/);
    expect(onTerminal('decrypt missing.sealed -o x', { TERM: 'dumb' })).not.toContain('\u001b[');
    // Not a terminal: never.
    expect(sealcam(['decrypt', 'missing.sealed', '-o', 'x']).stderr).toBe('sealcam: input file missing.sealed not found\n');
    expect(colorEnabled({ NO_COLOR: '' }, { isTTY: true })).toBe(true);
  });
});

describe('limitRepeats', () => {
  it('prints a repeated message once per interval, then with the count held back', () => {
    let t = 0;
    const out: string[] = [];
    const say = limitRepeats((m) => out.push(m), 30_000, () => t);
    for (; t < 65_000; t += 1000) say('cannot reach the broker');
    say('another problem');
    expect(out).toEqual([
      'cannot reach the broker',
      'cannot reach the broker (29 more like this in the last 30 s)',
      'cannot reach the broker (29 more like this in the last 30 s)',
      'another problem',
    ]);
  });
});

