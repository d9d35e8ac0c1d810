/**
 * Errors sealcam raises on purpose. Each carries a stable `code` and a one-line message that
 * names the problem without echoing secret material, so the CLI can print it as it is.
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
  /** For a call over two messages (Eax.decryptTwoInto), which one failed first: 0 or 1. */
  readonly which?: number;
  constructor(message = 'authentication failed: the tag does not match (wrong key, or the data was altered)', which?: number) {
    super('EAUTH', message);
    if (which !== undefined) this.which = which;
  }
}

/** The caller passed something the API cannot take (wrong type, size or state). */
export class InputError extends SealcamError {
  constructor(message: string) {
    super('EINPUT', message);
  }
}
