import { allSettings, checkConfig, configWarnings, redactUrl, settingsInUse, type Origin } from '../config.js';
import { describeFleetKeys, fleetKeyLines } from './fleet-keys.js';
import { explainFromOptions } from './options.js';
import { printError, reporterFrom } from './output.js';

/**
 * `sealcam config check`: the settings the chosen kinds use (all of them with --all), each with
 * its value and where it came from (default, the file, a SEALCAM_* variable, a flag), the fleet's
 * keys by fingerprint (fleet-keys.ts), then
 * warnings (settings that cannot work as meant, e.g. SSE-C over http://) and problems (exit 1).
 * No secret is printed: the config holds none, a URL loses its password and query, and for a
 * variable that holds a connection string only whether it is set is said.
 */

export interface ConfigCheckOptions {
  config?: string;
  all?: boolean;
  json?: boolean;
  quiet?: boolean;
  [flag: string]: unknown;
}

interface Row {
  setting: string;
  value: string | number | boolean | null;
  from: Origin['source'];
  /** The file, variable or flag that set it. */
  by?: string;
  /** For a setting that names an environment variable: whether that variable is set. */
  variableSet?: boolean;
}

function shown(value: unknown): string | number | boolean | null {
  if (value === undefined) return null;
  if (typeof value === 'string') return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? redactUrl(value) : value;
  return value as number | boolean;
}

export async function configCheck(opts: ConfigCheckOptions): Promise<void> {
  const out = reporterFrom(opts);
  const { config, origins, file } = explainFromOptions(opts);
  const rows: Row[] = (opts.all ? allSettings() : settingsInUse(config)).map((setting) => {
    const [section, field] = setting.split('.') as [keyof typeof config, string];
    const value = (config[section] as Record<string, unknown>)[field];
    const origin = origins[setting] ?? { source: 'default' };
    const row: Row = { setting, value: shown(value), from: origin.source, ...(origin.name === undefined ? {} : { by: origin.name }) };
    if (field.endsWith('Env') && typeof value === 'string') row.variableSet = Boolean(process.env[value]);
    return row;
  });
  const warnings = configWarnings(config);
  const fleet = await describeFleetKeys(config);
  const problems = [...checkConfig(config), ...fleet.problems];
  const { keys } = fleet;
  if (out.json) {
    out.record({ file: file ?? null, settings: rows, keys, warnings, problems, ok: problems.length === 0 });
  } else {
    out.note(file === undefined ? 'no config file (sealcam.config.json is not here; --config names one)' : `config file ${file}`);
    for (const row of rows) {
      const value = row.value === null ? '(not set)' : String(row.value);
      const variable = row.variableSet === undefined ? '' : row.variableSet ? ' (set)' : ' (not set)';
      out.line(`${row.setting} = ${value}${variable}  [${row.from}${row.by === undefined ? '' : ` ${row.by}`}]`);
    }
    for (const line of fleetKeyLines(keys, config.receiver.trust)) out.line(line);
    for (const warning of warnings) out.warn(warning.message);
    for (const problem of problems) printError(problem.message);
    if (problems.length === 0) out.line('configuration OK');
  }
  if (problems.length > 0) process.exitCode = 1;
}
