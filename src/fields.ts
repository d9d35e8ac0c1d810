/**
 * Field-by-field checks for JSON that crosses a trust boundary (notifications, fleet records).
 * Each rule returns a problem in words or undefined; checkFields applies a table of rules, refuses
 * unknown fields, and returns a fresh object in the table's field order, so nothing else the
 * input carried travels on. Problems name the field, never its value: the value may be secret.
 */

export type Rule = (value: unknown) => string | undefined;

export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
/** '/'-separated names of letters, digits, '.', '_' or '-', none starting with '.' (blob names). */
export const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export const matches =
  (pattern: RegExp, hint: string): Rule =>
  (v) =>
    typeof v === 'string' && pattern.test(v) ? undefined : `must be ${hint}`;
export const oneOf =
  (...allowed: (string | number)[]): Rule =>
  (v) =>
    (typeof v === 'string' || typeof v === 'number') && allowed.includes(v) ? undefined : `must be one of ${allowed.join(', ')}`;
export const count: Rule = (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : 'must be a non-negative integer');
export const millis: Rule = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : 'must be a non-negative number');
export const isoTime: Rule = (v) => (typeof v === 'string' && ISO_TIME.test(v) && !Number.isNaN(Date.parse(v)) ? undefined : 'must be an ISO 8601 time');
export const pathLike: Rule = (v) =>
  typeof v === 'string' && v.length <= 1024 && v.split('/').every((s) => SEGMENT.test(s)) ? undefined : "must be '/'-separated parts of letters, digits, '.', '_' or '-'";

/**
 * Checks `value` against `rules`; a field in `optional` may be absent. `refuse` turns a problem
 * into the caller's error.
 */
export function checkFields<T>(value: unknown, rules: Record<string, Rule>, refuse: (problem: string) => Error, optional: readonly string[] = []): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse('must be an object');
  for (const field of Object.keys(value)) {
    if (!Object.hasOwn(rules, field)) throw refuse(`unknown field '${field.slice(0, 64)}' (allowed: ${Object.keys(rules).join(', ')})`);
  }
  const out: Record<string, unknown> = {};
  for (const [field, rule] of Object.entries(rules)) {
    const v = (value as Record<string, unknown>)[field];
    if (v === undefined) {
      if (optional.includes(field)) continue;
      throw refuse(`${field} is missing`);
    }
    const problem = rule(v);
    if (problem) throw refuse(`${field} ${problem}`);
    out[field] = v;
  }
  return out as T;
}
