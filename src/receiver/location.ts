import { resolve } from 'node:path';
import type { SealcamConfig } from '../config.js';
import { SealcamError } from '../errors.js';

/**
 * The receiver's output as one setting (receiver.output): a directory, or a place in an object
 * store, `azure://<container>/<prefix>` or `s3://<bucket>/<prefix>`. Several receivers on several
 * machines share a store location; its create-only writes (output.ts) keep every image once.
 *
 * A store output is reached with the store.* settings of its kind, as the source store would be:
 * the Azure connection string or account URL and the identity chain, the AWS credential chain,
 * region and endpoint. So one set of credentials serves the source and the output, and nothing
 * secret goes into the location itself.
 */

export type OutputLocation = { kind: 'directory'; dir: string } | { kind: 'azure' | 's3'; container: string; prefix: string };

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/** The location a receiver.output value names, or a one-line error saying how to write it. */
export function parseOutputLocation(text: string): OutputLocation {
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (text.trim() === '') throw new SealcamError('ECONFIG', 'receiver.output is empty: give a directory, azure://<container>/<prefix> or s3://<bucket>/<prefix>');
    return { kind: 'directory', dir: text };
  }
  if (scheme !== 'azure' && scheme !== 's3') {
    throw new SealcamError('ECONFIG', `receiver.output ${JSON.stringify(text)}: ${scheme}:// is not an output; use a directory, azure://<container>/<prefix> or s3://<bucket>/<prefix>`);
  }
  const rest = text.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const container = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);
  // A prefix is a folder: 'images' and 'images/' are the same place. The store checks its parts.
  const prefix = path === '' || path.endsWith('/') ? path : `${path}/`;
  const what = scheme === 'azure' ? 'container' : 'bucket';
  if (container === '') throw new SealcamError('ECONFIG', `receiver.output ${JSON.stringify(text)} names no ${what}: ${scheme}://<${what}>/<prefix>`);
  return { kind: scheme, container, prefix };
}

/** The location in words for messages: an absolute directory, or the store location's own URL (it carries no secret). */
export function describeOutput(location: OutputLocation): string {
  return location.kind === 'directory' ? resolve(location.dir) : `${location.kind}://${location.container}/${location.prefix}`;
}

/** Why the configuration cannot reach this location, or undefined. */
export function outputProblem(config: SealcamConfig): string | undefined {
  let location: OutputLocation;
  try {
    location = parseOutputLocation(config.receiver.output);
  } catch (err) {
    return (err as Error).message;
  }
  if (location.kind === 's3' && config.store.sse === 'c') {
    return 'receiver.output is an s3:// location and store.sse is c: outputs are stored with SSE-S3 or SSE-KMS only (every reader of the images would need the customer key); set store.sse to s3 or kms';
  }
  return undefined;
}
