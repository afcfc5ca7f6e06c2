import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';

/**
 * Where a model's pretrained weights come from: a URL and its sha256. The hash may be the
 * full 64 hex digits or a prefix of at least 8 (torchvision names its files
 * `resnet18-f37072fd.pth` and checks that prefix, like torch.hub).
 */
export const WeightSourceSchema = z.looseObject({
  url: z.url({ protocol: /^https?$/ }),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{8,64}$/, 'expected 8 to 64 hex digits')
    .transform((s) => s.toLowerCase()),
  /** Name in the cache; defaults to the last segment of the URL's path. */
  fileName: z.string().optional(),
  /** Licence of the weights, for `headstart models` (not used here). */
  licence: z.string().optional(),
});
export type WeightSource = z.input<typeof WeightSourceSchema>;
export type ParsedWeightSource = z.output<typeof WeightSourceSchema> & { fileName: string };

/** Validate a source and settle its cache file name. */
export function parseWeightSource(source: WeightSource): ParsedWeightSource {
  const data = parseOrThrow(WeightSourceSchema, source, `Invalid weight source ${JSON.stringify(source)}`);
  const fromUrl = decodeURIComponent(new URL(data.url).pathname.split('/').pop() ?? '');
  const fileName = data.fileName ?? fromUrl;
  if (!fileName || fileName === '.' || fileName === '..' || /[/\\\0]/.test(fileName) || fileName.startsWith('.')) {
    throw new ConfigError('E_UNSAFE_WEIGHTS', `Weight source ${data.url}: cannot use \`${fileName}\` as a cache file name`, { hint: 'give the source a plain fileName' });
  }
  return { ...data, fileName };
}

/** Does a computed hex digest satisfy an expected full hash or prefix? */
export function sha256Matches(actual: string, expected: string): boolean {
  return actual.toLowerCase().startsWith(expected.toLowerCase());
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
