import { WeightsError } from '../errors.js';
import { readFileOrThrow } from '../read-file.js';
import type { NamedTensors } from '../tensor.js';
import { readPth, type PthOptions } from './pth.js';
import { readSafetensors } from './safetensors.js';

/**
 * Read a weight file whose format is told by its first bytes, not its extension:
 * a zip (torch.save, `.pth`/`.pt`/`.bin`) or safetensors. This is what `--weights <file>` uses.
 */
export async function loadWeightsFile(path: string, options?: Omit<PthOptions, 'fileName'>): Promise<NamedTensors> {
  const bytes = await readFileOrThrow(path, 'weight file', 'check the path given with --weights');
  // safetensors: an 8-byte header length, then a JSON object.
  if (bytes.length >= 9 && bytes[8] === 0x7b && !(bytes[0] === 0x50 && bytes[1] === 0x4b)) {
    return readSafetensors(bytes, { fileName: path });
  }
  const text = textPreview(bytes);
  if (text !== null) {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${path}\` holds text, not weights ("${text}")`, {
      hint: /^version https:\/\/git-lfs/.test(text)
        ? 'it is a Git LFS pointer: fetch the real file with `git lfs pull`'
        : 'give a .pth written by torch.save or a .safetensors file (a failed download can leave an HTML or error page under the weight file name)',
    });
  }
  if (/\.safetensors$/i.test(path) && !(bytes[0] === 0x50 && bytes[1] === 0x4b)) {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${path}\` is not a safetensors file: it does not start with a header length followed by a JSON header`, {
      hint: 'the file is damaged or in another format; re-save it with safetensors.torch.save_file',
    });
  }
  // Anything else goes to the .pth reader, whose errors name legacy, TorchScript and unknown files.
  return readPth(bytes, { ...options, fileName: path });
}

/** The start of a file that is printable text (a weight file never is), else null. */
function textPreview(bytes: Uint8Array): string | null {
  const head = bytes.subarray(0, 256);
  if (head.length === 0) return null;
  for (const b of head) if (b < 0x09 || (b > 0x0d && b < 0x20) || b === 0x7f) return null;
  const text = Buffer.from(head).toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > 60 ? `${text.slice(0, 60)}...` : text;
}
