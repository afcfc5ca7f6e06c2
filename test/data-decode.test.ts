/**
 * Decoding: every format and colour model becomes 8-bit RGB as the issue says (EXIF
 * orientation applied, alpha over white, CMYK/16-bit/grey/palette converted, first frame
 * only), the JS header reader agrees with libvips, and content sniffing tells formats apart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage, probeImage } from '../src/data/decode.js';
import { readImageHeader } from '../src/data/image-header.js';
import { formatFromName, sniffFormat } from '../src/data/image-format.js';
import { texture } from './data-fixtures.js';

const W = 40;
const H = 24;
const raw = () => sharp(texture(W, H, 1), { raw: { width: W, height: H, channels: 3 } });

test('JPEG, PNG, WebP, GIF and TIFF decode to 8-bit RGB of the right size', async () => {
  const png = await raw().png().toBuffer();
  const ref = await decodeImage(png);
  for (const [name, bytes, tolerance] of [
    ['png', png, 0],
    ['tiff', await raw().tiff({ compression: 'lzw' }).toBuffer(), 0],
    ['webp-lossless', await raw().webp({ lossless: true }).toBuffer(), 0],
    ['jpeg', await raw().jpeg({ quality: 95 }).toBuffer(), 12],
    ['gif', await raw().gif().toBuffer(), 40],
  ] as const) {
    const img = await decodeImage(bytes);
    assert.equal(img.width, W, name);
    assert.equal(img.height, H, name);
    assert.equal(img.data.length, W * H * 3, name);
    let mad = 0;
    for (let i = 0; i < img.data.length; i++) mad += Math.abs(img.data[i] - ref.data[i]);
    assert.ok(mad / img.data.length <= tolerance, `${name}: mean |diff| ${mad / img.data.length}`);
  }
});

test('alpha is composited on white; 16-bit, grey, palette and CMYK become 8-bit RGB', async () => {
  const rgba = Buffer.alloc(4 * 4 * 4);
  for (let i = 0; i < 16; i++) rgba.set(i < 8 ? [10, 20, 30, 0] : [10, 20, 30, 255], i * 4);
  const a = await decodeImage(
    await sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } })
      .png()
      .toBuffer(),
  );
  assert.deepEqual([...a.data.subarray(0, 3)], [255, 255, 255]);
  assert.deepEqual([...a.data.subarray(45, 48)], [10, 20, 30]);

  const png = await decodeImage(await raw().png().toBuffer());
  const p16 = await decodeImage(await raw().toColourspace('rgb16').png().toBuffer());
  assert.deepEqual(p16.data, png.data, '16-bit PNG reduces to the same 8-bit values');

  const grey = await decodeImage(await raw().toColourspace('b-w').png().toBuffer());
  assert.equal(grey.data.length, W * H * 3);
  assert.ok(grey.data[0] === grey.data[1] && grey.data[1] === grey.data[2]);

  const pal = await decodeImage(await raw().png({ palette: true, colours: 16 }).toBuffer());
  assert.equal(pal.data.length, W * H * 3);

  const cmyk = await raw().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  const c = await decodeImage(cmyk);
  let mad = 0;
  for (let i = 0; i < c.data.length; i++) mad += Math.abs(c.data[i] - png.data[i]);
  assert.ok(mad / c.data.length < 20, `CMYK round trip stays close to the RGB original (${mad / c.data.length})`);
});

test('GIF: only the first frame is read', async () => {
  const frames = Buffer.alloc(8 * 12 * 3, 0);
  frames.fill(250, 0, 8 * 6 * 3);
  const gif = await sharp(frames, { raw: { width: 8, height: 12, channels: 3, pageHeight: 6 } })
    .gif()
    .toBuffer();
  const img = await decodeImage(gif);
  assert.deepEqual([img.width, img.height], [8, 6]);
  assert.ok(img.data.every((v) => v > 200));
});

test('EXIF orientations 1..8: the header reader agrees with libvips, and decoding applies them', async () => {
  const base = await raw().jpeg().toBuffer();
  const upright = await decodeImage(base);
  for (let o = 1; o <= 8; o++) {
    const bytes = await sharp(base).withMetadata({ orientation: o }).jpeg().toBuffer();
    const h = readImageHeader(bytes);
    const m = await sharp(bytes).metadata();
    assert.deepEqual([h?.width, h?.height, h?.orientation], [m.autoOrient.width, m.autoOrient.height, o], `orientation ${o}`);
    const img = await decodeImage(bytes);
    assert.deepEqual([img.width, img.height], o >= 5 ? [H, W] : [W, H]);
    if (o === 6) {
      // 90 degrees clockwise: the top-left pixel comes from the bottom-left of the stored image.
      const src = (H - 1) * W * 3;
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(img.data[c] - upright.data[src + c]) <= 24);
    }
  }
  // An orientation stored as a big-endian LONG (legal, rare): the reader defers to libvips.
  const tiff = Buffer.from([0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 4, 0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0]);
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'binary'), tiff]);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0, payload.length + 2]), payload]);
  const odd = Buffer.concat([base.subarray(0, 2), app1, base.subarray(2)]);
  assert.equal(readImageHeader(odd), null);
  assert.deepEqual([(await probeImage(odd)).width, (await decodeImage(odd)).width], [H, H]);
  const png = await raw().png().toBuffer();
  assert.deepEqual(readImageHeader(png), { format: 'png', width: W, height: H, orientation: 1 });
  assert.deepEqual((await probeImage(await raw().webp().toBuffer())).width, W, 'other formats go through libvips');
});

test('sniffFormat tells real content from the name; formatFromName maps extensions', async () => {
  assert.equal(sniffFormat(await raw().png().toBuffer()), 'png');
  assert.equal(sniffFormat(await raw().jpeg().toBuffer()), 'jpeg');
  assert.equal(sniffFormat(await raw().webp().toBuffer()), 'webp');
  assert.equal(sniffFormat(await raw().gif().toBuffer()), 'gif');
  assert.equal(sniffFormat(await raw().tiff().toBuffer()), 'tiff');
  assert.equal(sniffFormat(Buffer.from('hello, not an image\n')), 'text');
  assert.equal(sniffFormat(Buffer.alloc(0)), 'empty');
  assert.equal(sniffFormat(Buffer.from([0, 1, 2, 3])), 'unknown');
  assert.equal(formatFromName('a/B.JPEG'), 'jpeg');
  assert.equal(formatFromName('x.tif'), 'tiff');
  assert.equal(formatFromName('notes.txt'), null);
  await assert.rejects(decodeImage(Buffer.from('not an image'), 'x.jpg'), (e: Error & { code?: string }) => e.code === 'E_BAD_IMAGE' && /`x\.jpg`/.test(e.message));
});
