import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { WeightsError } from '../errors.js';
import { readFileOrThrow } from '../read-file.js';
import { parseOrThrow } from '../zod-issues.js';
import { parseJsLiteral } from './js-literal.js';
import { readTfjsLayersModel, type TfjsLayersModel } from './tfjs.js';

/**
 * The offline pretrained backbone: the Keras MobileNetV2 (ImageNet-initialised, then
 * fine-tuned by nsfwjs) that npm `nsfwjs@4.4.0` (MIT) bundles as two JS modules. We read
 * them as text and extract their literals (the model.json object and the base64 of the
 * uint8-quantised weights) without executing them, so no network and no code from the
 * package is needed. The package's `exports` map blocks sub-path imports, so the files
 * are found by path from the package root.
 */
export const NSFWJS_MOBILENET_V2 = {
  packageName: 'nsfwjs',
  version: '4.4.0',
  modelFile: 'dist/models/mobilenet_v2/model.min.js',
  shardFile: 'dist/models/mobilenet_v2/group1-shard1of1.min.js',
  /** sha256 of the two files as published in nsfwjs@4.4.0. */
  sha256: {
    model: 'c32f104fd562b08cdff5ed69dfe1209643afa47e792fb12751d2949aa61a397a',
    shard: 'ef2e0a63f7d2c4960b37b024b669313f65d3c45cd59e9042636c55b39de53517',
  },
  /** NHWC input; pixels scaled to [0, 1] (x / 255), no mean/std. */
  inputShape: [224, 224, 3],
  /** Output of this layer is the 1280-d pooled feature vector (7×7 average pool + flatten). */
  featureLayer: 'flatten_1',
  featureDim: 1280,
  licence: 'MIT',
} as const;

const OptionsSchema = z.strictObject({
  /** Root of the nsfwjs package; found from this module when omitted. */
  packageDir: z.string().optional(),
  /** Check the files' sha256 against nsfwjs@4.4.0's (default true). */
  verify: z.boolean().default(true),
});
export type NsfwjsOptions = z.input<typeof OptionsSchema>;

const installHint = `install it: npm install nsfwjs@${NSFWJS_MOBILENET_V2.version}`;

function isPackageRoot(dir: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
    return pkg.name === NSFWJS_MOBILENET_V2.packageName;
  } catch {
    return false;
  }
}

/**
 * The nsfwjs package root. `require.resolve('nsfwjs/package.json')` is blocked by the
 * package's `exports`, so resolve its main entry and walk up to its package.json; failing
 * that, look in the node_modules folders Node would search.
 */
export function findNsfwjsPackageDir(): string {
  const require = createRequire(import.meta.url);
  try {
    let dir = dirname(require.resolve(NSFWJS_MOBILENET_V2.packageName));
    for (;;) {
      if (isPackageRoot(dir)) return dir;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  } catch {
    // fall through to the node_modules lookup
  }
  for (const nm of require.resolve.paths(NSFWJS_MOBILENET_V2.packageName) ?? []) {
    const dir = join(nm, NSFWJS_MOBILENET_V2.packageName);
    if (isPackageRoot(dir)) return dir;
  }
  throw new WeightsError('E_NOT_FOUND', `Cannot find the npm package \`${NSFWJS_MOBILENET_V2.packageName}\`, which holds the offline MobileNetV2 backbone`, {
    hint: installHint,
  });
}

/** The literal assigned by `X.exports=` in a browserify bundle, checked to be the whole statement. */
function exportedLiteral(text: string, first: '{' | '"', source: string): unknown {
  const re = /\.exports\s*=\s*/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const at = m.index + m[0].length;
    if (text[at] !== first) continue;
    const lit = parseJsLiteral(text, at, source);
    const next = text.slice(lit.end).trimStart()[0];
    if (next !== undefined && next !== '}' && next !== ';') {
      throw new WeightsError('E_BAD_WEIGHTS', `${source}: the exported literal is followed by code (\`${text.slice(lit.end, lit.end + 20)}\`)`, { hint: installHint });
    }
    return lit.value;
  }
  throw new WeightsError('E_BAD_WEIGHTS', `${source}: no exported ${first === '{' ? 'object' : 'string'} literal found`, {
    hint: `expected the file of nsfwjs@${NSFWJS_MOBILENET_V2.version}; ${installHint}`,
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Parse the two bundled files (as text) into a TF.js layers model. */
export function parseNsfwjsMobileNetV2(modelJs: string, shardJs: string): TfjsLayersModel {
  const modelJson = exportedLiteral(modelJs, '{', NSFWJS_MOBILENET_V2.modelFile);
  const b64 = exportedLiteral(shardJs, '"', NSFWJS_MOBILENET_V2.shardFile) as string;
  if (b64.length % 4 !== 0 || !BASE64.test(b64)) {
    throw new WeightsError('E_BAD_WEIGHTS', `${NSFWJS_MOBILENET_V2.shardFile}: the exported string is not base64`, { hint: installHint });
  }
  const bytes = Buffer.from(b64, 'base64');
  return readTfjsLayersModel(modelJson, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), { fileName: NSFWJS_MOBILENET_V2.modelFile });
}

/** Load the MobileNetV2 bundled in nsfwjs@4.4.0, with no network and without running its code. */
export async function loadNsfwjsMobileNetV2(options?: NsfwjsOptions): Promise<TfjsLayersModel> {
  const { verify, packageDir } = parseOrThrow(OptionsSchema, options ?? {}, 'Invalid nsfwjs loader options');
  const root = packageDir ?? findNsfwjsPackageDir();
  const read = async (rel: string, sha256: string): Promise<string> => {
    const path = join(root, rel);
    if (!existsSync(path)) {
      throw new WeightsError('E_NOT_FOUND', `\`${path}\` is missing: the nsfwjs package there does not bundle MobileNetV2`, { hint: installHint });
    }
    const buf = await readFileOrThrow(path, 'the nsfwjs model file', installHint);
    if (verify) {
      const found = createHash('sha256').update(buf).digest('hex');
      if (found !== sha256) {
        throw new WeightsError('E_CHECKSUM', `\`${path}\` has sha256 ${found}, expected ${sha256} (the file of nsfwjs@${NSFWJS_MOBILENET_V2.version})`, {
          hint: `${installHint}, or pass verify: false to use another version's model`,
        });
      }
    }
    return buf.toString('utf8');
  };
  const [modelJs, shardJs] = await Promise.all([read(NSFWJS_MOBILENET_V2.modelFile, NSFWJS_MOBILENET_V2.sha256.model), read(NSFWJS_MOBILENET_V2.shardFile, NSFWJS_MOBILENET_V2.sha256.shard)]);
  return parseNsfwjsMobileNetV2(modelJs, shardJs);
}
