import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { InputError } from '../errors.js';

/**
 * Who may see the dashboard: whoever holds its bearer token. The printed URL carries the token
 * once (`/?token=…`); the server trades it for a session cookie (a random id, never the token;
 * HttpOnly, SameSite=Strict) and redirects to a URL without it, as Jupyter does, so the token
 * does not linger in the address bar, the history or a Referer. Scripts may send
 * `Authorization: Bearer <token>` instead. Tokens are compared in constant time (as SHA-256
 * digests, so their lengths do not leak either), and sessions are kept by digest too.
 */

/** A generated token: 256 random bits. */
export const generateToken = () => randomBytes(32).toString('base64url');

const MIN_TOKEN = 16;
/** A session lasts this long after login, at most. */
const SESSION_MS = 24 * 3600 * 1000;
/** Sessions held at once; the oldest go first. */
const MAX_SESSIONS = 1000;

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Refuses a token too short to be a secret, or one that could not travel in a URL or header as it is. */
export function checkToken(token: string, where = 'the dashboard token'): string {
  if (typeof token !== 'string' || token.length < MIN_TOKEN || token.length > 512 || !/^[A-Za-z0-9._~-]+$/.test(token)) {
    throw new InputError(`${where} must be ${MIN_TOKEN}-512 characters of letters, digits, '.', '_', '~' or '-'`);
  }
  return token;
}

/** The value of cookie `name` in a Cookie header, if present. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export class DashboardAuth {
  private readonly tokenDigest: Buffer;
  /** Session id digests and when each expires, oldest first. */
  private readonly sessions = new Map<string, number>();

  constructor(
    token: string,
    /** Names the cookie apart from other dashboards on the same host (cookies ignore ports). */
    readonly cookieName: string,
    private readonly now: () => number = Date.now,
  ) {
    this.tokenDigest = digest(checkToken(token));
  }

  /** True when `candidate` is the token. */
  isToken(candidate: string): boolean {
    return timingSafeEqual(digest(candidate), this.tokenDigest);
  }

  /** A new session; returns the Set-Cookie value that hands it to the browser. */
  startSession(): string {
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(digest(id).toString('hex'), this.now() + SESSION_MS);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return `${this.cookieName}=${id}; Path=/; HttpOnly; SameSite=Strict`;
  }

  /** True when the request carries a live session cookie or the token as a bearer credential. */
  allows(req: IncomingMessage): boolean {
    const bearer = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '');
    if (bearer) return this.isToken(bearer[1]!);
    const id = cookieValue(req.headers.cookie, this.cookieName);
    if (id === undefined) return false;
    const key = digest(id).toString('hex');
    const expires = this.sessions.get(key);
    if (expires === undefined) return false;
    if (expires > this.now()) return true;
    this.sessions.delete(key);
    return false;
  }
}
