import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { samplesDir } from '../src/device/index.js';
import { encodePng } from '../src/device/png.js';
import { checkImage } from '../src/io/image-check.js';

/**
 * Image validation on the committed samples and on damaged copies of them, each damage made at a
 * named place in the file's structure (a chunk's CRC, the end of a scan), so a test fails if the
 * walker stops looking there.
 */

const root = mkdtempSync(join(tmpdir(), 'sealcam-image-check-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SAMPLES = {
  'car-park-day.jpg': [640, 480],
  'front-door-night.jpg': [480, 360],
  'street-dusk.jpg': [640, 360],
  'loading-bay-thermal.png': [160, 120],
  'test-card.png': [192, 144],
} as const;

const sample = (name: keyof typeof SAMPLES) => readFileSync(join(samplesDir, name));
let files = 0;
function file(bytes: Uint8Array, name = 'image.bin'): string {
  const path = join(root, `${++files}-${name}`);
  writeFileSync(path, bytes);
  return path;
}

/** Offsets of a PNG's chunks: [type, offset of the length field, data length]. */
function pngChunks(png: Uint8Array): [string, number, number][] {
  const chunks: [string, number, number][] = [];
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let at = 8; at < png.length; ) {
    const length = view.getUint32(at);
    chunks.push([Buffer.from(png.subarray(at + 4, at + 8)).toString('latin1'), at, length]);
    at += 12 + length;
  }
  return chunks;
}

const chunk = (png: Uint8Array, type: string) => pngChunks(png).find(([t]) => t === type)!;

describe('checkImage on the samples', () => {
  for (const [name, [width, height]] of Object.entries(SAMPLES)) {
    it(`finds ${name} well-formed, ${width}x${height}, of the claimed type`, async () => {
      const type = name.endsWith('.png') ? 'image/png' : 'image/jpeg';
      const result = await checkImage(join(samplesDir, name), { contentType: type, name });
      expect(result).toEqual({ format: type === 'image/png' ? 'png' : 'jpeg', width, height, warnings: [] });
    });
  }
});

describe('checkImage on bytes in memory (an image bound for an object store)', () => {
  it('finds the same as on the file, for a good image and a damaged one', async () => {
    for (const name of Object.keys(SAMPLES)) {
      const bytes = readFileSync(join(samplesDir, name));
      const type = name.endsWith('.png') ? 'image/png' : 'image/jpeg';
      expect(await checkImage(bytes, { contentType: type, name })).toEqual(await checkImage(join(samplesDir, name), { contentType: type, name }));
      const cut = bytes.subarray(0, bytes.length - 7);
      expect(await checkImage(cut, { contentType: type, name })).toEqual(await checkImage(file(cut), { contentType: type, name }));
    }
  });
});

describe('checkImage on a damaged PNG', () => {
  const png = sample('test-card.png');

  it('reports a file cut inside a chunk as truncated', async () => {
    const [, at] = chunk(png, 'IDAT');
    const { warnings } = await checkImage(file(png.subarray(0, at + 100)));
    expect(warnings).toEqual([`malformed PNG: truncated: the IDAT chunk at byte ${at} needs ${chunk(png, 'IDAT')[2] + 12} bytes, the file ends after 100`]);
  });

  it('reports a file that ends after a whole chunk but before IEND', async () => {
    const [, at] = chunk(png, 'IEND');
    expect((await checkImage(file(png.subarray(0, at)))).warnings).toEqual(['malformed PNG: truncated: no IEND chunk']);
  });

  it('reports a bad CRC in the pixel data', async () => {
    const bad = Buffer.from(png);
    const [, at] = chunk(png, 'IDAT');
    bad[at + 8 + 10]! ^= 0x01;
    const { warnings } = await checkImage(file(bad));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^malformed PNG: the IDAT chunk at byte ${at} has a bad CRC \\(stored 0x[0-9A-F]{8}, computed 0x[0-9A-F]{8}\\)$`));
  });

  it('reports bytes after IEND', async () => {
    const { warnings } = await checkImage(file(Buffer.concat([png, Buffer.from('trailing')])));
    expect(warnings).toEqual(['malformed PNG: 8 bytes after IEND']);
  });

  it('reports a first chunk that is not IHDR', async () => {
    const [, ihdrAt, ihdrLength] = chunk(png, 'IHDR');
    const withoutIhdr = Buffer.concat([png.subarray(0, ihdrAt), png.subarray(ihdrAt + 12 + ihdrLength)]);
    expect((await checkImage(file(withoutIhdr))).warnings[0]).toMatch(/^malformed PNG: the first chunk is \w{4}, not IHDR$/);
  });

  it('reports an IHDR with a bit depth its colour type cannot have (the CRC made to match)', async () => {
    const bad = Buffer.from(png);
    const [, at] = chunk(png, 'IHDR');
    bad[at + 8 + 8] = 3; // bit depth 3, colour type 2
    bad.writeUInt32BE(crc32(bad.subarray(at + 4, at + 8 + 13)), at + 8 + 13);
    expect((await checkImage(file(bad))).warnings).toEqual(['malformed PNG: IHDR has bit depth 3 with colour type 2, which PNG does not allow']);
  });

  it('reports a chunk type that is not four letters, as hex', async () => {
    const bad = Buffer.from(png);
    const [, at] = chunk(png, 'IDAT');
    bad[at + 4] = 0x0a;
    expect((await checkImage(file(bad))).warnings).toEqual([`malformed PNG: the chunk at byte ${at} has an invalid type 0x0A444154`]);
  });
});

describe('checkImage on a damaged JPEG', () => {
  const jpeg = sample('car-park-day.jpg');

  it('reports a JPEG without EOI', async () => {
    const { warnings, width, height } = await checkImage(file(jpeg.subarray(0, jpeg.length - 2)));
    expect({ width, height }).toEqual({ width: 640, height: 480 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^malformed JPEG: no EOI: the file ends inside the scan that starts at byte \d+$/);
  });

  it('reports a JPEG cut inside a segment before the scan', async () => {
    expect((await checkImage(file(jpeg.subarray(0, 30)))).warnings[0]).toMatch(/^malformed JPEG: truncated: segment 0xFF[0-9A-F]{2} at byte \d+ needs \d+ bytes, the file ends after \d+$/);
  });

  it('reports bytes that are not a marker between segments', async () => {
    const bad = Buffer.from(jpeg);
    const app0Length = bad.readUInt16BE(4);
    bad[2 + 2 + app0Length] = 0x00;
    expect((await checkImage(file(bad))).warnings).toEqual([`malformed JPEG: expected a marker at byte ${4 + app0Length}, found 0x00`]);
  });

  it('reports a JPEG whose frame header comes after its scan', async () => {
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    const bad = Buffer.from(jpeg);
    bad[sof + 1] = 0xfe; // the SOF0 becomes a comment
    expect((await checkImage(file(bad))).warnings[0]).toMatch(/^malformed JPEG: a scan \(SOS\) at byte \d+ before any frame header \(SOF\)$/);
  });

  it('reports bytes after EOI', async () => {
    expect((await checkImage(file(Buffer.concat([jpeg, Buffer.alloc(5)])))).warnings).toEqual(['malformed JPEG: 5 bytes after EOI']);
  });
});

describe('checkImage against what the metadata claims', () => {
  it('reports a JPEG claimed to be a PNG, by content type and by name', async () => {
    const { format, warnings } = await checkImage(join(samplesDir, 'street-dusk.jpg'), { contentType: 'image/png', name: 'street-dusk.png' });
    expect(format).toBe('jpeg');
    expect(warnings).toEqual(['content type "image/png" does not match the file, which is a JPEG', 'the name "street-dusk.png" does not match the file, which is a JPEG']);
  });

  it('reports a PNG claimed to be a JPEG', async () => {
    const { warnings } = await checkImage(join(samplesDir, 'test-card.png'), { contentType: 'image/jpeg' });
    expect(warnings).toEqual(['content type "image/jpeg" does not match the file, which is a PNG']);
  });

  it('reports a file that is no image at all but claims to be one', async () => {
    const { format, warnings } = await checkImage(file(Buffer.from('GIF89a....')), { contentType: 'image/jpeg', name: 'x.jpg' });
    expect(format).toBe('unknown');
    expect(warnings).toEqual(['content type "image/jpeg" does not match the file, which is neither PNG nor JPEG', 'the name "x.jpg" does not match the file, which is neither PNG nor JPEG']);
  });

  it('says nothing about a type it does not check, when the bytes are not PNG or JPEG either', async () => {
    expect(await checkImage(file(Buffer.from('RIFF....WEBP')), { contentType: 'image/webp', name: 'a.webp' })).toEqual({ format: 'unknown', warnings: [] });
  });

  it('accepts a content type with parameters and in upper case', async () => {
    expect((await checkImage(join(samplesDir, 'test-card.png'), { contentType: 'IMAGE/PNG; q=1' })).warnings).toEqual([]);
  });

  it('quotes and cuts short a claimed type, so the warning stays one line', async () => {
    const { warnings } = await checkImage(join(samplesDir, 'test-card.png'), { contentType: `image/jpeg\n${'x'.repeat(100)}` });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toMatch(/[\n\r]/);
    expect(warnings[0]).toContain('"image/jpeg\\nxxxx');
    expect(warnings[0]!.length).toBeLessThan(140);
  });
});

describe('checkImage dimension limits', () => {
  it('reports a width over the limit', async () => {
    const { warnings } = await checkImage(join(samplesDir, 'car-park-day.jpg'), { limits: { maxWidth: 600 } });
    expect(warnings).toEqual(['width 640 exceeds the limit of 600']);
  });

  it('reports a height over the limit', async () => {
    const { warnings } = await checkImage(join(samplesDir, 'test-card.png'), { limits: { maxHeight: 100 } });
    expect(warnings).toEqual(['height 144 exceeds the limit of 100']);
  });

  it('refuses a limit that is not a positive integer', async () => {
    await expect(checkImage(join(samplesDir, 'test-card.png'), { limits: { maxWidth: 0 } })).rejects.toThrow('image limit maxWidth must be a positive integer, got 0');
  });
});

describe('checkImage on what is not an image file', () => {
  it('reports an empty file', async () => {
    expect(await checkImage(file(new Uint8Array(0)))).toEqual({ format: 'unknown', warnings: ['the file is empty'] });
  });

  it('reports a missing file as a warning, not an exception', async () => {
    const { warnings } = await checkImage(join(root, 'missing.png'));
    expect(warnings).toEqual([`could not check the image: cannot read ${join(root, 'missing.png')}: no such file or directory`]);
  });
});

describe('checkImage on a large image', () => {
  it('walks a 64 MiB PNG chunk with positioned reads, without holding it in memory', async () => {
    // A sparse file: a real 1x1 PNG whose IDAT is preceded by a 64 MiB private chunk of zeros.
    const small = Buffer.from(encodePng(1, 1, new Uint8Array(3)));
    const [, idatAt] = chunk(small, 'IDAT');
    const size = 64 * 1024 * 1024;
    const zeros = new Uint8Array(1 << 20);
    let crc = crc32(Buffer.from('zzZz'));
    for (let i = 0; i < size / zeros.length; i++) crc = crc32(zeros, crc);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(size, 0);
    head.write('zzZz', 4, 'latin1');
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc, 0);

    const path = join(root, 'large.png');
    const fd = openSync(path, 'w');
    writeSync(fd, small.subarray(0, idatAt));
    writeSync(fd, head);
    ftruncateSync(fd, idatAt + 8 + size);
    writeSync(fd, tail, 0, 4, idatAt + 8 + size);
    writeSync(fd, small.subarray(idatAt), 0, small.length - idatAt, idatAt + 12 + size);
    closeSync(fd);

    const before = process.memoryUsage().arrayBuffers;
    const result = await checkImage(path, { contentType: 'image/png' });
    expect(result).toEqual({ format: 'png', width: 1, height: 1, warnings: [] });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
    rmSync(path);
  });
});
