import { serveCases } from './case-server.js';
import { engineCases } from './cases/engine.js';
import { useReferenceEngine } from './cases/inputs.js';
import { NOAES_IMPL } from './cases/noaes.js';
import { mainThreadSealedCases } from './cases/sealed.js';

/**
 * The child of bench/cases/noaes.ts: sealcam's native engine, single-message EAX, its parts and
 * `sealed` on this thread, with OpenSSL's AES instructions masked off by the parent. Its node:crypto
 * is the row under test, so its rows are checked against the WASM engine.
 */

useReferenceEngine('wasm');
const facts = Object.fromEntries(['OPENSSL_ia32cap', 'OPENSSL_armcap'].flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]!]])));
serveCases([...engineCases(NOAES_IMPL, 'native'), ...mainThreadSealedCases(NOAES_IMPL, 'native')], facts, {
  onMessage: (h) => void process.on('message', h as (m: unknown) => void),
  send: (r) => void process.send!(r),
});
