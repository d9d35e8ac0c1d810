#!/usr/bin/env node
// Writes the sample camera images in this directory: a few small PNGs and JPEGs of drawn scenes,
// the same bytes on every run (seeded noise, no dates), with nothing downloaded. PNGs come from the
// project's own writer (build first: npx tsc -p tsconfig.json); JPEGs from the baseline encoder
// below (JFIF, 4:4:4, Annex K tables). Run: node src/device/samples/make-samples.mjs [output-dir]
// (the default output is this directory; the tests write elsewhere and compare with what is committed).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { encodePng } = await import(join(here, '..', '..', '..', 'dist', 'src', 'device', 'png.js'));

// --- Baseline JPEG encoder ----------------------------------------------------------------------

const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36,
  29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];
// Annex K.1 quantization tables, natural order.
const LUMA_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109,
  103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  ...Array(32).fill(99),
];
// Annex K.3 Huffman tables: code counts per length 1..16, then the symbols.
const range = (n) => Array.from({ length: n }, (_, i) => i);
const DC_LUMA = { bits: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], values: range(12) };
const DC_CHROMA = { bits: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], values: range(12) };
const AC_LUMA = {
  bits: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
  values: [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42,
    0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35,
    0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67,
    0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
    0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
    0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4,
    0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
};
const AC_CHROMA = {
  bits: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
  values: [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1,
    0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a,
    0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66,
    0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4,
    0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
  ],
};

/** Canonical Huffman codes (Annex C): symbol -> [code, length]. */
function huffmanCodes({ bits, values }) {
  if (bits.reduce((a, b) => a + b, 0) !== values.length) throw new Error('Huffman table: counts and symbols disagree');
  const codes = new Map();
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    for (let i = 0; i < bits[length - 1]; i++) codes.set(values[k++], [code++, length]);
    code <<= 1;
  }
  return codes;
}

function scaledTable(base, quality) {
  const scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  return base.map((q) => Math.min(255, Math.max(1, Math.floor((q * scale + 50) / 100))));
}

class BitWriter {
  bytes = [];
  acc = 0;
  count = 0;
  write(code, length) {
    for (let i = length - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((code >>> i) & 1);
      if (++this.count === 8) this.flushByte();
    }
  }
  flushByte() {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0); // byte stuffing
    this.acc = 0;
    this.count = 0;
  }
  /** Pads the last byte with 1 bits, as the standard asks. */
  end() {
    while (this.count !== 0) this.write(1, 1);
    return this.bytes;
  }
}

const COS = Array.from({ length: 64 }, (_, i) => Math.cos(((2 * (i >> 3) + 1) * (i & 7) * Math.PI) / 16)); // [x][u]
const C = (u) => (u === 0 ? Math.SQRT1_2 : 1);

/** Forward DCT of one 8x8 block (natural order, level-shifted), then quantized, in zigzag order. */
function transform(block, table) {
  const rows = new Float64Array(64);
  for (let y = 0; y < 8; y++) {
    for (let u = 0; u < 8; u++) {
      let s = 0;
      for (let x = 0; x < 8; x++) s += block[y * 8 + x] * COS[x * 8 + u];
      rows[y * 8 + u] = s;
    }
  }
  const out = new Int32Array(64);
  for (let i = 0; i < 64; i++) {
    const n = ZIGZAG[i];
    const v = n >> 3;
    const u = n & 7;
    let s = 0;
    for (let y = 0; y < 8; y++) s += rows[y * 8 + u] * COS[y * 8 + v];
    out[i] = Math.round((0.25 * C(u) * C(v) * s) / table[n]);
  }
  return out;
}

const bitLength = (v) => (v === 0 ? 0 : 32 - Math.clz32(Math.abs(v)));
const magnitude = (v, size) => (v < 0 ? v + (1 << size) - 1 : v);

function encodeBlock(writer, coefficients, previousDc, dc, ac) {
  const diff = coefficients[0] - previousDc;
  const size = bitLength(diff);
  writer.write(...dc.get(size));
  if (size > 0) writer.write(magnitude(diff, size), size);
  let run = 0;
  for (let k = 1; k < 64; k++) {
    const c = coefficients[k];
    if (c === 0) {
      run++;
      continue;
    }
    for (; run > 15; run -= 16) writer.write(...ac.get(0xf0));
    const s = bitLength(c);
    writer.write(...ac.get((run << 4) | s));
    writer.write(magnitude(c, s), s);
    run = 0;
  }
  if (run > 0) writer.write(...ac.get(0x00));
  return coefficients[0];
}

function segment(marker, body) {
  return [0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body];
}

function encodeJpeg(width, height, rgb, quality, comment) {
  const tables = [scaledTable(LUMA_Q, quality), scaledTable(CHROMA_Q, quality)];
  const dc = [huffmanCodes(DC_LUMA), huffmanCodes(DC_CHROMA)];
  const ac = [huffmanCodes(AC_LUMA), huffmanCodes(AC_CHROMA)];
  const planes = [new Float64Array(width * height), new Float64Array(width * height), new Float64Array(width * height)];
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
    planes[0][i] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
    planes[1][i] = -0.168736 * r - 0.331264 * g + 0.5 * b;
    planes[2][i] = 0.5 * r - 0.418688 * g - 0.081312 * b;
  }
  const writer = new BitWriter();
  const previous = [0, 0, 0];
  const block = new Float64Array(64);
  // One MCU per 8x8 block of each component (no subsampling), edges replicated.
  for (let by = 0; by < height; by += 8) {
    for (let bx = 0; bx < width; bx += 8) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < 8; y++) {
          for (let x = 0; x < 8; x++) block[y * 8 + x] = planes[c][Math.min(by + y, height - 1) * width + Math.min(bx + x, width - 1)];
        }
        const t = c === 0 ? 0 : 1;
        previous[c] = encodeBlock(writer, transform(block, tables[t]), previous[c], dc[t], ac[t]);
      }
    }
  }
  const dht = (cls, id, { bits, values }) => [(cls << 4) | id, ...bits, ...values];
  const bytes = [
    0xff, 0xd8,
    ...segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    ...segment(0xfe, [...Buffer.from(comment, 'latin1')]),
    ...segment(0xdb, [0, ...ZIGZAG.map((n) => tables[0][n]), 1, ...ZIGZAG.map((n) => tables[1][n])]),
    ...segment(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]),
    ...segment(0xc4, [...dht(0, 0, DC_LUMA), ...dht(1, 0, AC_LUMA), ...dht(0, 1, DC_CHROMA), ...dht(1, 1, AC_CHROMA)]),
    ...segment(0xda, [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]),
    ...writer.end(),
    0xff, 0xd9,
  ];
  return new Uint8Array(bytes);
}

// --- Scenes -------------------------------------------------------------------------------------

function random(seed) {
  let s = seed >>> 0;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)));
const mix = (a, b, t) => a.map((v, i) => v + (b[i] - v) * t);

/** Renders `shade(x, y, rnd) -> [r, g, b]` into an RGB buffer. */
function render(width, height, seed, shade) {
  const rnd = random(seed);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = shade(x, y, rnd);
      rgb.set([clamp(r), clamp(g), clamp(b)], (y * width + x) * 3);
    }
  }
  return rgb;
}

/** Daylight car park: sky, tarmac with bay lines, parked cars. */
function carPark(width, height) {
  const horizon = height * 0.4;
  const cars = [
    [0.08, [180, 30, 30]],
    [0.3, [30, 60, 160]],
    [0.52, [220, 220, 215]],
    [0.74, [40, 40, 45]],
  ];
  return render(width, height, 11, (x, y, rnd) => {
    const n = (rnd() - 0.5) * 18;
    if (y < horizon) return mix([90, 140, 210], [200, 225, 245], y / horizon).map((v) => v + n * 0.3);
    const bayLine = Math.abs(((x / width) * 9) % 1) < 0.02 && y > height * 0.55;
    for (const [at, colour] of cars) {
      const left = at * width;
      if (x > left && x < left + width * 0.15 && y > height * 0.58 && y < height * 0.8) {
        const roof = y < height * 0.66 ? 0.75 : 1;
        return colour.map((v) => v * roof + n);
      }
    }
    return bayLine ? [235 + n, 235 + n, 220 + n] : [85 + n, 85 + n, 90 + n];
  });
}

/** A front door at night under a porch light. */
function frontDoor(width, height) {
  const light = [width * 0.5, height * 0.12];
  return render(width, height, 23, (x, y, rnd) => {
    const d = Math.hypot(x - light[0], y - light[1]) / width;
    const glow = Math.max(0, 1 - d * 2.2);
    const n = (rnd() - 0.5) * 24; // sensor noise is strong in the dark
    const door = x > width * 0.36 && x < width * 0.64 && y > height * 0.25;
    const base = door ? [70, 40, 25] : [40, 40, 50];
    return base.map((v, i) => v * (0.25 + glow) + [60, 45, 20][i] * glow + n);
  });
}

/** Dusk street: orange-to-violet sky, building silhouettes, lit windows. */
function street(width, height) {
  const rooflines = Array.from({ length: 12 }, (_, i) => height * (0.25 + 0.3 * Math.abs(Math.sin(i * 2.3))));
  return render(width, height, 37, (x, y, rnd) => {
    const n = (rnd() - 0.5) * 12;
    const roof = rooflines[Math.floor((x / width) * rooflines.length)];
    if (y < roof) return mix([250, 150, 70], [70, 50, 120], 1 - y / roof).map((v) => v + n * 0.5);
    const lit = (Math.floor(x / 14) * 7 + Math.floor(y / 18) * 13) % 5 === 0 && x % 14 > 4 && y % 18 > 6;
    return lit ? [255, 210 + n, 120] : [25 + n, 22 + n, 35 + n];
  });
}

/** A test card: colour bars over a grey ramp, with the noise of a real sensor. */
function testCard(width, height) {
  const bars = [[235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16], [235, 16, 235], [235, 16, 16], [16, 16, 235]];
  return render(width, height, 41, (x, y, rnd) => {
    const n = (rnd() - 0.5) * 10;
    if (y < height * 0.7) return bars[Math.floor((x / width) * bars.length)].map((v) => v + n);
    const grey = (x / width) * 255;
    return [grey + n, grey + n, grey + n];
  });
}

/** A loading bay seen from above, false-colour thermal. */
function thermal(width, height) {
  const spots = [
    [0.3, 0.4, 0.12],
    [0.7, 0.6, 0.08],
    [0.5, 0.85, 0.05],
  ];
  return render(width, height, 53, (x, y, rnd) => {
    let heat = 0.15 + (rnd() - 0.5) * 0.06;
    for (const [sx, sy, r] of spots) heat += Math.exp(-(((x / width - sx) ** 2 + (y / height - sy) ** 2) / (r * r)));
    const t = Math.min(1, heat);
    return t < 0.5 ? mix([20, 0, 80], [200, 0, 60], t * 2) : mix([200, 0, 60], [255, 230, 80], (t - 0.5) * 2);
  });
}

const SAMPLES = [
  ['car-park-day.jpg', () => encodeJpeg(640, 480, carPark(640, 480), 80, 'sealcam sample: car park by day')],
  ['front-door-night.jpg', () => encodeJpeg(480, 360, frontDoor(480, 360), 75, 'sealcam sample: front door at night')],
  ['street-dusk.jpg', () => encodeJpeg(640, 360, street(640, 360), 85, 'sealcam sample: street at dusk')],
  ['test-card.png', () => encodePng(192, 144, testCard(192, 144), { text: { Software: 'sealcam sample: test card' } })],
  ['loading-bay-thermal.png', () => encodePng(160, 120, thermal(160, 120), { text: { Software: 'sealcam sample: thermal' } })],
];

const out = process.argv[2] ?? here;
mkdirSync(out, { recursive: true });
for (const [name, make] of SAMPLES) {
  const bytes = make();
  writeFileSync(join(out, name), bytes);
  console.log(`${name}: ${bytes.length} bytes`);
}
