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
  // Anything else goes to the .pth reader, whose errors name legacy, TorchScript and unknown files.
  return readPth(bytes, { ...options, fileName: path });
}
