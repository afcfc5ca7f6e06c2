/**
 * A transform pipeline: geometric and pixel transforms, then ToTensor + Normalize into
 * float32 CHW. Two ways to run it, drawing the same random numbers:
 * - `applyToImage` / `tensorFromImage`: the pure reference on a decoded image (PIL-exact);
 * - `run`: the loader's path from file bytes. It reads the size from the header, composes the
 *   leading geometric transforms into one Geometry and lets libvips decode, crop and resize
 *   in one call; what cannot be composed runs in JS afterwards.
 */
import { ConfigError, DataError } from '../errors.js';
import { decodeGeometry, probeImage, type ImageInput } from './decode.js';
import type { RandomSource } from '../random.js';
import type { RgbImage } from './rgb-image.js';
import { identityGeometry, type Geometry, type Size } from './transforms/geometry.js';
import { flipHorizontal } from './transforms/horizontal-flip.js';
import { normalizationTable, writeNormalized, type Rgb } from './transforms/normalize.js';
import { transformFromSpec } from './transforms/from-spec.js';
import type { ImageTransform, TransformSpec } from './transforms/transform.js';

export interface PipelineOptions {
  mean: Rgb;
  std: Rgb;
}

/** A pipeline as plain data, to rebuild it in a decode worker. */
export interface PipelineSpec {
  steps: TransformSpec[];
  mean: Rgb;
  std: Rgb;
}

export class Pipeline {
  readonly steps: readonly ImageTransform[];
  readonly mean: Rgb;
  readonly std: Rgb;
  /** Output height and width when the steps fix them (required for batching), else null. */
  readonly outputSize: Size | null;
  private readonly table: Float32Array;

  constructor(steps: readonly ImageTransform[], options: PipelineOptions) {
    this.steps = Object.freeze([...steps]);
    this.mean = options.mean;
    this.std = options.std;
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
    return { steps: steps as TransformSpec[], mean: this.mean, std: this.std };
  }

  static fromSpec(spec: PipelineSpec): Pipeline {
    return new Pipeline(spec.steps.map(transformFromSpec), { mean: spec.mean, std: spec.std });
  }

  describe(): string {
    return [...this.steps.map((s) => s.name), `Normalize(mean=${this.mean}, std=${this.std})`].join(' -> ');
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
  private async decodeComposed(bytes: ImageInput, rng: RandomSource, name: string): Promise<{ image: RgbImage; g: Geometry; next: number }> {
    const probe = await probeImage(bytes, name);
    const words: number[] = [];
    const recording: RandomSource = { nextUint32: () => { const w = rng.nextUint32(); words.push(w); return w; } };
    const first = this.compose(probe, probe.source === 'header' ? recording : rng);
    try {
      return { image: await decodeGeometry(bytes, first.g, name), ...first };
    } catch (err) {
      if (probe.source !== 'header') throw err;
      const checked = await probeImage(bytes, name, { useHeader: false });
      if (checked.width === probe.width && checked.height === probe.height) throw err;
      let i = 0;
      const replay: RandomSource = { nextUint32: () => (i < words.length ? words[i++] : rng.nextUint32()) };
      const second = this.compose(checked, replay);
      return { image: await decodeGeometry(bytes, second.g, name), ...second };
    }
  }

  /**
   * Decodes `bytes` and writes the normalised CHW result into `out` at `offset`.
   * Throws DataError if the file cannot be decoded or its result has the wrong size.
   */
  async run(bytes: ImageInput, rng: RandomSource, out: Float32Array, offset = 0, name = '<buffer>'): Promise<void> {
    const { image: decoded, g, next } = await this.decodeComposed(bytes, rng, name);
    let image = decoded;
    let flip = g.flip;
    if (next < this.steps.length) {
      if (flip) image = flipHorizontal(image);
      flip = false;
      for (let i = next; i < this.steps.length; i++) image = this.steps[i].apply(image, rng);
    }
    const want = this.outputSize;
    if (want && (image.width !== want.width || image.height !== want.height)) {
      throw new DataError('E_INTERNAL', `Image \`${name}\` came out ${image.width}x${image.height}, the pipeline promises ${want.width}x${want.height} (a bug in headstart's transforms: please report it)`);
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
    const { image: decoded, g, next } = await this.decodeComposed(bytes, rng, name);
    let image = decoded;
    if (g.flip) image = flipHorizontal(image);
    for (let i = next; i < this.steps.length; i++) image = this.steps[i].apply(image, rng);
    const t = new Float32Array(3 * image.width * image.height);
    writeNormalized(image, this.table, t);
    return t;
  }
}
