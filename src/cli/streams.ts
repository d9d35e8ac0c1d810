import { pipeline, Transform, type Readable } from 'node:stream';

/**
 * Small stream pieces the file commands chain together: a per-chunk map with an end check, and a
 * chain whose last stream carries any error of the chain, so writeStreamAtomic (which only sees
 * that last stream) drops its temp file whichever piece failed.
 */

export interface ThroughHooks {
  /** Called once at the end of the input; throwing fails the stream before it ends. */
  end?: () => void;
  /** Called once whether the stream ended or was destroyed: wipe state here. */
  cleanup?: () => void;
}

/** A Transform that maps each chunk (a throw fails the stream). */
export function through(map: (chunk: Uint8Array) => Uint8Array, hooks: ThroughHooks = {}): Transform {
  return new Transform({
    transform(chunk: Uint8Array, _encoding, callback) {
      let out: Uint8Array;
      try {
        out = map(chunk);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback(null, out);
    },
    flush(callback) {
      try {
        hooks.end?.();
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback();
    },
    destroy(err, callback) {
      hooks.cleanup?.();
      callback(err);
    },
  });
}

/** Passes chunks on unchanged after showing them to `see`. */
export function tap(see: (chunk: Uint8Array) => void, hooks: ThroughHooks = {}): Transform {
  return through((chunk) => {
    see(chunk);
    return chunk;
  }, hooks);
}

/** `source` piped through `transforms`; an error anywhere destroys the returned (last) stream with it. */
export function chain(source: Readable, ...transforms: Transform[]): Readable {
  if (transforms.length === 0) return source;
  // The callback only has to exist: the error reaches the consumer through the last stream.
  return pipeline(source, ...(transforms as [Transform, ...Transform[]]), () => undefined) as unknown as Readable;
}
