/**
 * A transform pipeline: geometric and pixel transforms, then ToTensor + Normalize into
 * float32 CHW. Two ways to run it, drawing the same random numbers:
 * - `applyToImage` / `tensorFromImage`: the pure reference on a decoded image (PIL-exact);
 * - `run`: the loader's path from file bytes. It reads the size from the header, composes the
 *   leading geometric transforms into one Geometry, lets libvips decode (and crop) in one
 *   call and resizes with PIL's resampler fused with the normalisation (libvips resizes
 *   too where an option trades exactness for speed); what cannot be composed runs in JS afterwards.
 */
import { ConfigError, DataError } from '../errors.js';
import { decodeGeometry, decodeImage, probeImage, type ImageInput, type ImageProbe, type NormalizedTarget } from './decode.js';
import { canDecodeAugmented, decodeAugmented, usesShrinkOnLoad, type MappedPixels } from './decode-augmented.js';
import { decodeNativeGeometry } from './decode-native.js';
import type { RandomSource } from '../random.js';
import { createRgbImage, type RgbImage } from './rgb-image.js';
import { geometrySize, identityGeometry, type Geometry, type Size } from './transforms/geometry.js';
import { flipHorizontal } from './transforms/flip-image.js';
import { normalizationTable, writeNormalized, writeNormalizedMapped, type Rgb } from './transforms/normalize.js';
import { transformFromSpec } from './transforms/from-spec.js';
import type { ImageTransform, TransformSpec } from './transforms/transform.js';

export interface PipelineOptions {
  mean: Rgb;
  std: Rgb;
  /**
   * Let libvips do the crop + resize of a leading random resized crop with its own kernels
   * (and JPEG shrink-on-load), within a stated tolerance of PIL (see decode-augmented.ts),
   * instead of the PIL-exact path. Only geometries with a single resize and no crop after it
   * take it (the training transform); others (the eval transform) stay exact. Default false.
   */
  fastAugment?: boolean;
  /**
   * Decode whole images and run every step with PIL's resampler in JS (the pure reference):
   * bit for bit torchvision's, slowest. Default false (the composed geometry in one decode:
   * torchvision's bytes too unless `libvipsDownscale`, `shrinkOnLoad` or `fastAugment` says otherwise).
   */
  exact?: boolean;
  /**
   * Let a leading crop + resize of a large JPEG that shrinks by 6x or more take JPEG
   * shrink-on-load (libvips decodes at 1/2, 1/4 or 1/8 scale; within the tolerance stated in
   * decode-augmented.ts) even without `fastAugment`. The training transform sets it. Default false.
   */
  shrinkOnLoad?: boolean;
  /**
   * Let libvips do the downscale of a composed crop + resize in the decode call with its own
   * antialiased kernel (within ~0.3/255 of PIL's; the training transform sets it). Default
   * false: PIL's resampler in JS on the pixels libvips decoded, torchvision's bytes exactly.
   * JPEGs that the native decoder takes (decode-native.ts) are resized exactly with or without it.
   */
  libvipsDownscale?: boolean;
}

/** A pipeline as plain data, to rebuild it in a decode worker. */
export interface PipelineSpec {
  steps: TransformSpec[];
  mean: Rgb;
  std: Rgb;
  fastAugment?: boolean;
  exact?: boolean;
  shrinkOnLoad?: boolean;
  libvipsDownscale?: boolean;
}

type Decoded =
  { image: RgbImage; mapped?: undefined; written?: undefined } | { image?: undefined; mapped: MappedPixels; written?: undefined } | { image?: undefined; mapped?: undefined; written: true };

/** The mapped pixels as an image (unflipped), for the steps that follow in JS. */
function materialize(m: MappedPixels): RgbImage {
  const cols = m.cols;
  const w = cols.length;
  const h = m.rows.length;
  const img = createRgbImage(w, h);
  for (let y = 0; y < h; y++) {
    const row = m.rows[y] * m.width * 3;
    for (let x = 0; x < w; x++) {
      const p = row + cols[x] * 3;
      const q = (y * w + x) * 3;
      img.data[q] = m.data[p];
      img.data[q + 1] = m.data[p + 1];
      img.data[q + 2] = m.data[p + 2];
    }
  }
  return img;
}

export class Pipeline {
  readonly steps: readonly ImageTransform[];
  readonly mean: Rgb;
  readonly std: Rgb;
  /** Output height and width when the steps fix them (required for batching), else null. */
  readonly outputSize: Size | null;
  readonly fastAugment: boolean;
  readonly exact: boolean;
  readonly shrinkOnLoad: boolean;
  readonly libvipsDownscale: boolean;
  private readonly table: Float32Array;

  constructor(steps: readonly ImageTransform[], options: PipelineOptions) {
    this.steps = Object.freeze([...steps]);
    this.mean = options.mean;
    this.std = options.std;
    this.fastAugment = options.fastAugment ?? false;
    this.exact = options.exact ?? false;
    this.shrinkOnLoad = options.shrinkOnLoad ?? false;
    this.libvipsDownscale = options.libvipsDownscale ?? false;
    if (this.exact && this.fastAugment) throw new ConfigError('E_INCOMPATIBLE_OPTIONS', 'Pipeline: `exact` and `fastAugment` exclude each other', { hint: 'choose one resampling' });
    this.table = normalizationTable(options.mean, options.std);
    let size: Size | null = null;
    for (const s of steps) if (s.kind === 'geometric' && s.outputSize) size = s.outputSize;
    this.outputSize = size;
  }

  /** Values per image in the output (3 * height * width). */
  get tensorLength(): number {
    if (!this.outputSize) throw new ConfigError('E_BAD_OPTION', 'Pipeline: the output size is not fixed', { hint: 'end the pipeline with a crop (RandomResizedCrop or CenterCrop)' });
    return 3 * this.outputSize.width * this.outputSize.height;
  }

  /** The pipeline as plain data, or null if a step has no spec (custom transforms run in-process). */
  get spec(): PipelineSpec | null {
    const steps = this.steps.map((s) => s.spec);
    if (steps.some((s) => s === undefined)) return null;
    return {
      steps: steps as TransformSpec[],
      mean: this.mean,
      std: this.std,
      ...(this.fastAugment ? { fastAugment: true } : {}),
      ...(this.exact ? { exact: true } : {}),
      ...(this.shrinkOnLoad ? { shrinkOnLoad: true } : {}),
      ...(this.libvipsDownscale ? { libvipsDownscale: true } : {}),
    };
  }

  static fromSpec(spec: PipelineSpec): Pipeline {
    return new Pipeline(spec.steps.map(transformFromSpec), {
      mean: spec.mean,
      std: spec.std,
      fastAugment: spec.fastAugment,
      exact: spec.exact,
      shrinkOnLoad: spec.shrinkOnLoad,
      libvipsDownscale: spec.libvipsDownscale,
    });
  }

  describe(): string {
    const steps = [...this.steps.map((s) => s.name), `Normalize(mean=${this.mean}, std=${this.std})`].join(' -> ');
    return this.fastAugment ? `${steps} [libvips resampling]` : this.exact ? `${steps} [PIL-exact resampling]` : this.shrinkOnLoad ? `${steps} [JPEG shrink-on-load]` : steps;
  }

  /** Pure reference: every step on a decoded image, 8-bit result (before normalisation). */
  applyToImage(image: RgbImage, rng: RandomSource): RgbImage {
    let out = image;
    for (const s of this.steps) out = s.apply(out, rng);
    return out;
  }

  /** Pure reference: the normalised CHW tensor of a decoded image. */
  tensorFromImage(image: RgbImage, rng: RandomSource): Float32Array {
    const out = this.applyToImage(image, rng);
    const t = new Float32Array(3 * out.width * out.height);
    writeNormalized(out, this.table, t);
    return t;
  }

  private compose(source: Size, rng: RandomSource): { g: Geometry; next: number } {
    let g = identityGeometry(source);
    let i = 0;
    for (; i < this.steps.length; i++) {
      const s = this.steps[i];
      if (s.kind !== 'geometric' || !s.canCompose(g)) break;
      g = s.compose(g, rng);
    }
    return { g, next: i };
  }

  /**
   * Probes the size, composes the leading geometric steps and decodes them in one call. If
   * the JS header reader got the size wrong (libvips disagrees), it retries with libvips'
   * size, replaying the same random words, so the result is what a correct probe gives.
   */
  private async decodeComposed(bytes: ImageInput, rng: RandomSource, name: string, target?: { out: Float32Array; offset: number }): Promise<Decoded & { g: Geometry; next: number }> {
    const probe = await probeImage(bytes, name);
    const words: number[] = [];
    const recording: RandomSource = {
      nextUint32: () => {
        const w = rng.nextUint32();
        words.push(w);
        return w;
      },
    };
    const first = this.compose(probe, probe.source === 'header' ? recording : rng);
    try {
      return { ...(await this.decode(bytes, first.g, probe, name, this.target(first, target))), ...first };
    } catch (err) {
      if (probe.source !== 'header') throw err;
      const checked = await probeImage(bytes, name, { useHeader: false });
      if (checked.width === probe.width && checked.height === probe.height) throw err;
      let i = 0;
      const replay: RandomSource = { nextUint32: () => (i < words.length ? words[i++] : rng.nextUint32()) };
      const second = this.compose(checked, replay);
      return { ...(await this.decode(bytes, second.g, checked, name, this.target(second, target))), ...second };
    }
  }

  /** Where the decode may write normalised values itself: only when no step follows the composed ones and the size is the promised one. */
  private target(c: { g: Geometry; next: number }, t: { out: Float32Array; offset: number } | undefined): NormalizedTarget | undefined {
    if (!t || c.next !== this.steps.length) return undefined;
    const size = geometrySize(c.g);
    const want = this.outputSize;
    if (want && (size.width !== want.width || size.height !== want.height)) return undefined;
    return { table: this.table, out: t.out, offset: t.offset, flip: c.g.flip };
  }

  private async decode(bytes: ImageInput, g: Geometry, probe: ImageProbe, name: string, into?: NormalizedTarget): Promise<Decoded> {
    if (!this.exact && !this.fastAugment) {
      // JPEGs through the native decoder where it is built: PIL's decode and resampler (and
      // shrink-on-load where `shrinkOnLoad` allows), one call; undefined: take the sharp path.
      const native = await decodeNativeGeometry(bytes, g, probe.format, probe.orientation, name, into, { shrinkOnLoad: this.shrinkOnLoad });
      if (native === null) return { written: true };
      if (native) return { image: native };
    }
    // The libvips path: every crop it can take with `fastAugment`; with `shrinkOnLoad` only the
    // large JPEG crops that shrink-on-load decodes at a fraction of the cost (their tolerance is
    // stated in decode-augmented.ts); all others on the default path.
    if (canDecodeAugmented(g) && (this.fastAugment || (this.shrinkOnLoad && usesShrinkOnLoad(g, probe.format, probe.orientation)))) {
      return { mapped: await decodeAugmented(bytes, g, probe.format, probe.orientation, name) };
    }
    const options = { libvipsDownscale: this.libvipsDownscale };
    if (!into) return { image: await decodeGeometry(bytes, g, name, undefined, options) };
    const image = await decodeGeometry(bytes, g, name, into, options);
    return image ? { image } : { written: true };
  }

  /**
   * Decodes `bytes` and writes the normalised CHW result into `out` at `offset`.
   * Throws DataError if the file cannot be decoded or its result has the wrong size.
   */
  async run(bytes: ImageInput, rng: RandomSource, out: Float32Array, offset = 0, name = '<buffer>'): Promise<void> {
    if (this.exact) {
      const image = this.applyToImage(await decodeImage(bytes, name), rng);
      const want = this.outputSize;
      if (want && (image.width !== want.width || image.height !== want.height)) {
        throw new DataError('E_BAD_IMAGE', `Image \`${name}\` came out ${image.width}x${image.height}, the pipeline promises ${want.width}x${want.height}`);
      }
      writeNormalized(image, this.table, out, offset);
      return;
    }
    const d = await this.decodeComposed(bytes, rng, name, { out, offset });
    if (d.written) return; // resampled and normalised straight into `out`
    const { g, next } = d;
    const want = this.outputSize;
    if (d.mapped && next === this.steps.length) {
      // The fused pass: mapped pixels -> normalised CHW (flip in the column map) in the batch buffer.
      const m = d.mapped;
      if (want && (m.cols.length !== want.width || m.rows.length !== want.height)) {
        throw new DataError('E_BAD_IMAGE', `Image \`${name}\` came out ${m.cols.length}x${m.rows.length}, the pipeline promises ${want.width}x${want.height}`);
      }
      writeNormalizedMapped(m.data, m.width, m.rows, g.flip ? m.cols.slice().reverse() : m.cols, this.table, out, offset);
      return;
    }
    let image = d.image ?? materialize(d.mapped);
    let flip = g.flip;
    if (next < this.steps.length) {
      if (flip) image = flipHorizontal(image);
      flip = false;
      for (let i = next; i < this.steps.length; i++) image = this.steps[i].apply(image, rng);
    }
    if (want && (image.width !== want.width || image.height !== want.height)) {
      throw new DataError(
        'E_INTERNAL',
        `Image \`${name}\` came out ${image.width}x${image.height}, the pipeline promises ${want.width}x${want.height} (a bug in headstart's transforms: please report it)`,
      );
    }
    writeNormalized(image, this.table, out, offset, flip);
  }

  /** `run` into a fresh tensor (any output size). */
  async tensor(bytes: ImageInput, rng: RandomSource, name = '<buffer>'): Promise<Float32Array> {
    if (this.outputSize) {
      const t = new Float32Array(this.tensorLength);
      await this.run(bytes, rng, t, 0, name);
      return t;
    }
    if (this.exact) return this.tensorFromImage(await decodeImage(bytes, name), rng);
    const d = await this.decodeComposed(bytes, rng, name);
    if (d.written) throw new DataError('E_INTERNAL', 'Pipeline.tensor: a decode without a target wrote one (a bug in headstart: please report it)');
    const { g, next } = d;
    let image = d.image ?? materialize(d.mapped);
    if (g.flip) image = flipHorizontal(image);
    for (let i = next; i < this.steps.length; i++) image = this.steps[i].apply(image, rng);
    const t = new Float32Array(3 * image.width * image.height);
    writeNormalized(image, this.table, t);
    return t;
  }
}
