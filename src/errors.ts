/**
 * Errors sealcam raises on purpose. Each carries a stable `code` and a one-line message that
 * names the problem without echoing secret material, so the CLI can print it as it is.
 *
 * What a code means to the code that handles it lives here, once: a transient failure may pass
 * (retry it, keep the blob for later), a verification failure says the data itself is bad
 * (quarantine it, never retry). Stores, the receiver, quarantine and the pool all ask this module.
 */
export class SealcamError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The tag did not verify: wrong key, wrong nonce or header, or altered data. */
export class AuthenticationError extends SealcamError {
  constructor(message = 'authentication failed: the tag does not match (wrong key, or the data was altered)') {
    super('EAUTH', message);
  }
}

/** The caller passed something the API cannot take (wrong type, size or state). */
export class InputError extends SealcamError {
  constructor(message: string) {
    super('EINPUT', message);
  }
}

/** Codes of failures that may pass: the store, the key service or the network. */
const TRANSIENT: ReadonlySet<string> = new Set([
  'EUNREACHABLE',
  'EUNAVAILABLE',
  'EKEYNET',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Codes that say the data itself is bad, so trying again cannot help, and what each means. */
export const VERIFICATION_FAILURES: Readonly<Record<string, string>> = {
  EAUTH: 'a tag or the header MAC does not verify',
  EFORMAT: 'not a well-formed sealed file',
  ENOKEY: 'the key version is unknown',
  EKEYDISABLED: 'the key version is disabled',
  EDEVICE: 'the header names another device',
  ESIGNATURE: 'the device signature is missing, unregistered, revoked or does not verify',
};

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Network error codes, found on the error or inside an AggregateError (Node tries each address) or its cause. */
export function networkCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: unknown[]; cause?: unknown; name?: string } | undefined;
  if (!e) return undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code && /^E[A-Z]+$/.test(code) && code !== 'ERR_STREAM_PREMATURE_CLOSE') return code;
  for (const inner of [...(e.errors ?? []), e.cause]) {
    const found = inner === err ? undefined : networkCode(inner);
    if (found) return found;
  }
  return e.name === 'TimeoutError' ? 'ETIMEDOUT' : undefined;
}

/** A failure that may pass: worth retrying, or keeping the work for later. */
export function isTransient(err: unknown): boolean {
  const code = codeOf(err);
  return (code !== undefined && TRANSIENT.has(code)) || TRANSIENT.has(networkCode(err) ?? '');
}

/** A failure that says the data itself is bad (quarantine it; retrying cannot help). */
export function isVerificationFailure(err: unknown): err is SealcamError {
  return err instanceof SealcamError && Object.hasOwn(VERIFICATION_FAILURES, err.code);
}

/** A failure reported as data (a worker's `{ code, message }`) as the error class its code belongs to. */
export function errorFromCode(code: string, message: string): SealcamError {
  if (code === 'EAUTH') return new AuthenticationError(message);
  if (code === 'EINPUT') return new InputError(message);
  return new SealcamError(code, message);
}
