/**
 * Failures say what the user has in our words, not a library's ("Warning treated as error due
 * to failOn setting", "Input buffer has corrupt header", "Unable to deserialize cloned data", a
 * text file called "not a PyTorch zip checkpoint"); the library's message stays in `cause`
 * (printed with --verbose).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { describeDecodeFailure } from '../src/data/decode-failure.js';
import { decodeError, openImage } from '../src/data/decode.js';
import { HeadstartError } from '../src/errors.js';
import { decodeCheckpoint } from '../src/train/checkpoint.js';
import { loadWeightsFile } from '../src/weights/load-weights-file.js';
import { readOnnxFile } from '../src/weights/onnx-file.js';
import { tempDir } from './train-fixtures.js';

const LIBRARY_WORDS = /failOn|Input buffer|Input Buffer|vips|libpng|deserialize|cloned data|ReadRawBytes/i;

test('image decode failures: what is wrong with the file, the decoder message kept as the cause', async () => {
  const png = await sharp(Buffer.alloc(32 * 32 * 3, 90), { raw: { width: 32, height: 32, channels: 3 } })
    .png()
    .toBuffer();
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated.png', png.subarray(0, png.length - 40), /truncated or its image data is damaged|header is damaged/],
    ['text.jpg', Buffer.from('hello, not an image\n'), /not an image/],
    ['header.png', Buffer.concat([png.subarray(0, 40), Buffer.alloc(60, 7)]), /damaged/],
  ];
  for (const [name, bytes, expected] of cases) {
    const err = await openImage(bytes)
      .raw()
      .toBuffer()
      .then(
        () => assert.fail(`${name} decoded`),
        (e: unknown) => decodeError(name, e),
      );
    assert.match(err.message, expected, name);
    assert.doesNotMatch(err.message, LIBRARY_WORDS, name);
    assert.ok(err.cause instanceof Error, `${name}: the decoder's message is the cause`);
  }
  assert.match(describeDecodeFailure('VipsJpeg: Corrupt JPEG data\nWarning treated as error due to failOn setting'), /image data is damaged/);
  assert.match(describeDecodeFailure('Warning treated as error due to failOn setting'), /image data is damaged/);
  assert.doesNotMatch(describeDecodeFailure('Warning treated as error due to failOn setting'), LIBRARY_WORDS);
  // libjpeg's messages (the native JPEG decoder).
  for (const m of ['Premature end of JPEG file', 'Corrupt JPEG data: 300 extraneous bytes before marker 0xd9', 'Bogus marker length', 'Huffman table 0x01 was not defined']) {
    assert.match(describeDecodeFailure(m), /truncated|damaged/, m);
    assert.doesNotMatch(describeDecodeFailure(m), LIBRARY_WORDS, m);
  }
});

test('weight, model and checkpoint files: named, with what they hold', async () => {
  const dir = await tempDir('messages-');
  const text = join(dir, 'model.safetensors');
  writeFileSync(text, '<html><body>404 Not Found</body></html>\n');
  await assert.rejects(
    loadWeightsFile(text),
    (e: unknown) => e instanceof HeadstartError && e.code === 'E_BAD_WEIGHTS' && /holds text, not weights \("<html><body>404 Not Found/.test(e.message) && !/zip/.test(e.message),
  );
  const lfs = join(dir, 'lfs.pth');
  writeFileSync(lfs, 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n');
  await assert.rejects(loadWeightsFile(lfs), (e: unknown) => e instanceof HeadstartError && /git lfs pull/.test(e.hint ?? ''));
  const binary = join(dir, 'other.safetensors');
  writeFileSync(binary, Buffer.from([1, 2, 3, 0, 0, 0, 0, 0, 9, 9, 9]));
  await assert.rejects(loadWeightsFile(binary), (e: unknown) => e instanceof HeadstartError && /is not a safetensors file/.test(e.message));

  const junk = join(dir, 'junk.onnx');
  writeFileSync(junk, Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 97 + 13) % 256)));
  assert.throws(
    () => readOnnxFile(junk),
    (e: unknown) => e instanceof HeadstartError && e.code === 'E_BAD_MODEL_FILE' && e.message.startsWith(`\`${junk}\` is not an ONNX model`),
  );

  const damaged = Buffer.concat([Buffer.from('HSCKPT01', 'latin1'), Buffer.from('garbage bytes, not v8')]);
  assert.throws(
    () => decodeCheckpoint(damaged, '`run/checkpoint.bin`'),
    (e: unknown) =>
      e instanceof HeadstartError && e.code === 'E_BAD_CHECKPOINT' && /is damaged: its contents cannot be read back/.test(e.message) && !LIBRARY_WORDS.test(e.message) && e.cause instanceof Error,
  );
});
