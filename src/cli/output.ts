/**
 * Everything the command line prints goes through here, so three rules hold everywhere:
 *
 * - Text that came from outside (a file name, a sealed header's key id or metadata, a blob name,
 *   a broker's error) is escaped before it reaches a terminal: a newline or an escape sequence in
 *   a key id cannot add a line to a one-line error or repaint the screen.
 * - `--json` puts machine-readable results on stdout and nothing else there (one JSON document
 *   for a command that ends, one JSON object per line for one that runs until stopped);
 *   `--quiet` keeps only results and errors. Notes, summaries and progress go to stderr.
 * - Colour only on a terminal, never with NO_COLOR set (https://no-color.org) or TERM=dumb.
 *
 * One module so the daemon's structured logging (issue 14) has one place to plug into.
 */

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

// C0 and C1 controls, DEL, the line and paragraph separators, and the bidirectional overrides.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/** `text` with every control character (and bidi override) shown as an escape, so it prints on one line as it is. */
export function escapeText(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? (c.charCodeAt(0) < 0x100 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** Colour on stderr: a terminal, NO_COLOR unset (any value turns it off), and a terminal that can show it. */
export function colorEnabled(env: NodeJS.ProcessEnv = process.env, stream: { isTTY?: boolean } = process.stderr): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '') && env.TERM !== 'dumb';
}

function paint(code: string, text: string): string {
  return colorEnabled() ? `\u001b[${code}m${text}\u001b[0m` : text;
}

/** The one-line error every command ends with on failure: `sealcam: <message>`. */
export function printError(message: string): void {
  process.stderr.write(`${paint('31', 'sealcam:')} ${escapeText(message)}\n`);
}

export function printWarning(message: string): void {
  process.stderr.write(`${paint('33', 'sealcam: warning:')} ${escapeText(message)}\n`);
}

/** What a command reports, in the mode the user picked. */
export interface Reporter {
  readonly json: boolean;
  readonly quiet: boolean;
  /** A result line on stdout (a blob name, a table row); not in --json mode, where `record` speaks instead. */
  line(text: string): void;
  /** A result as JSON on stdout in --json mode (one line each), nothing otherwise. */
  record(value: unknown): void;
  /** A note on stderr (what is being watched, a summary); not with --quiet or --json. */
  note(text: string): void;
  /** A warning on stderr; shown even with --quiet and --json (it is not a result). */
  warn(message: string): void;
  /** Progress bars and the like may be shown. */
  readonly chatty: boolean;
}

export function createReporter(options: OutputOptions = {}): Reporter {
  const json = options.json === true;
  const quiet = options.quiet === true;
  return {
    json,
    quiet,
    chatty: !json && !quiet,
    line: (text) => void (json || process.stdout.write(`${escapeText(text)}\n`)),
    record: (value) => void (json && process.stdout.write(`${JSON.stringify(value)}\n`)),
    note: (text) => void (json || quiet || process.stderr.write(`${escapeText(text)}\n`)),
    warn: printWarning,
  };
}

/** The reporter for a command's parsed `--json` and `--quiet`. */
export function reporterFrom(opts: { json?: unknown; quiet?: unknown }): Reporter {
  return createReporter({ json: opts.json === true, quiet: opts.quiet === true });
}

/** Rows as left-aligned columns two spaces apart (the first row is the heading), each line escaped. */
export function printTable(rows: string[][], out: Reporter = createReporter()): void {
  const safe = rows.map((row) => row.map(escapeText));
  const widths = safe[0]!.map((_, i) => Math.max(...safe.map((row) => (row[i] ?? '').length)));
  for (const row of safe) out.line(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

/**
 * A key version sealcam just wrote to a local keyring, on one line with its absolute path: files
 * sealed under it open only with it, so the user must know where it is. Printed even with --quiet.
 */
export function announceCreatedKey(key: { name: string; version: string; path: string }): void {
  process.stderr.write(`sealcam: created key ${escapeText(key.name)} version ${escapeText(key.version)} in ${escapeText(key.path)}: back it up (what is sealed under it opens only with it)\n`);
}

/**
 * `print` for a stream of errors that repeat (a broker that is down fails every reconnect, once a
 * second): a message is printed the first time, then at most once per `intervalMs`, saying how many
 * like it were held back meanwhile.
 */
export function limitRepeats(print: (message: string) => void, intervalMs = 30_000, now: () => number = Date.now): (message: string) => void {
  const seen = new Map<string, { at: number; held: number }>();
  return (message) => {
    const last = seen.get(message);
    const t = now();
    if (last !== undefined && t - last.at < intervalMs) {
      last.held += 1;
      return;
    }
    const held = last?.held ?? 0;
    seen.set(message, { at: t, held: 0 });
    print(held > 0 ? `${message} (${held} more like this in the last ${Math.round((t - last!.at) / 1000)} s)` : message);
  };
}
