import type { SealedHeader, SealedHeaderV1, SealedHeaderV2 } from '../../src/formats/sealed.js';

/** The header as the version a test expects (a v1 file sealed under a KEK, a v2 file sealed to recipients). */
export function asV1(header: SealedHeader): SealedHeaderV1 {
  if (header.version !== 1) throw new Error(`expected a v1 header, got version ${header.version}`);
  return header;
}

export function asV2(header: SealedHeader): SealedHeaderV2 {
  if (header.version !== 2) throw new Error(`expected a v2 header, got version ${header.version}`);
  return header;
}
