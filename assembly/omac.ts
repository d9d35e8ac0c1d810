// OMAC1 / CMAC (NIST SP 800-38B) with EAX's tweak: OMAC^t(M) = CMAC([t] || M).
// The state keeps the last block back, because CMAC treats the final block differently and
// a stream cannot know which block is last until it is finalised.
import { encryptBlock } from './aes';
import { KEY_EMPTY, KEY_K1, KEY_K2, KEY_TWEAK, rounds } from './key';

export const OMAC_MAC: usize = 0; // chaining value
export const OMAC_BUF: usize = 16; // pending (last) block
export const OMAC_LEN: usize = 32; // i32: bytes in the pending block, 0..16
export const OMAC_ANY: usize = 36; // i32: 1 once any message byte was absorbed
export const OMAC_STATE_SIZE: usize = 48;

/** Start OMAC^t at state `o`; t = -1 means plain CMAC without a tweak block. */
export function omacInit(k: usize, o: usize, t: i32): void {
  const mac = t < 0 ? i64x2(0, 0) : v128.load(k + KEY_TWEAK + (<usize>t << 4));
  v128.store(o + OMAC_MAC, mac);
  v128.store(o + OMAC_BUF, i64x2(0, 0));
  store<i32>(o + OMAC_LEN, 0);
  store<i32>(o + OMAC_ANY, 0);
}

export function omacUpdate(k: usize, o: usize, data: usize, length: i32): void {
  if (length <= 0) return;
  store<i32>(o + OMAC_ANY, 1);
  let len = load<i32>(o + OMAC_LEN);
  let i = 0;
  const fill = min(16 - len, length);
  memory.copy(o + OMAC_BUF + <usize>len, data, <usize>fill);
  len += fill;
  i += fill;
  if (i < length) {
    // The pending block is full and more data follows, so it is not the last block.
    const nr = rounds(k);
    let mac = encryptBlock(v128.xor(v128.load(o + OMAC_MAC), v128.load(o + OMAC_BUF)), k, nr);
    while (length - i > 16) {
      mac = encryptBlock(v128.xor(mac, v128.load(data + <usize>i)), k, nr);
      i += 16;
    }
    v128.store(o + OMAC_MAC, mac);
    v128.store(o + OMAC_BUF, i64x2(0, 0));
    len = length - i;
    memory.copy(o + OMAC_BUF, data + <usize>i, <usize>len);
  }
  store<i32>(o + OMAC_LEN, len);
}

/** The final 16-byte value; `t` as given to omacInit. */
export function omacFinal(k: usize, o: usize, t: i32): v128 {
  if (t >= 0 && load<i32>(o + OMAC_ANY) == 0) return v128.load(k + KEY_EMPTY + (<usize>t << 4));
  const len = load<i32>(o + OMAC_LEN);
  let last = v128.load(o + OMAC_BUF);
  if (len == 16) {
    last = v128.xor(last, v128.load(k + KEY_K1));
  } else {
    store<u8>(o + OMAC_BUF + <usize>len, 0x80);
    last = v128.xor(v128.load(o + OMAC_BUF), v128.load(k + KEY_K2));
  }
  return encryptBlock(v128.xor(v128.load(o + OMAC_MAC), last), k, rounds(k));
}
