import { basename } from 'node:path';
import { z } from 'zod';
import { WeightsError } from '../errors.js';
import { readFileOrThrow } from '../read-file.js';
import { parseOrThrow } from '../zod-issues.js';
import type { HostTensor, NamedTensors } from '../tensor.js';
import { materialiseView, STORAGE_TYPES, TORCH_DTYPES, type StorageDType, type TensorView } from './torch-storage.js';
import { unpickle, type PyCallable, type PyConstant, type PyGlobal } from './unpickle.js';
import { readZipEntries } from './zip.js';

/**
 * PyTorch checkpoints (`.pth` / `.pt`) in torch.save's zip format (the default since
 * torch 1.6), read WITHOUT running pickle code. The pickle is decoded by a restricted
 * reader that only accepts this whitelist of globals:
 *
 * - `torch._utils._rebuild_tensor`, `_rebuild_tensor_v2`, `_rebuild_tensor_v3`,
 *   `_rebuild_parameter`, `_rebuild_parameter_with_state` (tensors and parameters),
 * - `torch.<Type>Storage` and `torch.<dtype>` (element types),
 * - `torch._tensor._rebuild_from_type_v2` for plain `torch.Tensor` / `Parameter` types,
 * - `collections.OrderedDict`, `torch.Size`, `_codecs.encode` (plain data).
 *
 * Anything else (`os.system`, `builtins.eval`, a pickled nn.Module class, numpy scalars,
 * argparse.Namespace, ...) is refused with a WeightsError that names it, before it could
 * do anything. Loading an untrusted checkpoint is therefore safe, unlike `torch.load`.
 *
 * Output: the state dict's tensors in file order. Every floating-point tensor (float64,
 * float16, bfloat16, float32) is converted to float32; int64 stays int64
 * (BigInt64Array); int8/int16 widen to int32; uint8 and bool stay bytes. Views
 * (storage offset, non-contiguous strides) are copied into dense row-major tensors, and
 * tensors that share a storage each get their own copy. A float32/int64/int32/uint8
 * tensor that is alone on its storage is a view of the input bytes, not a copy (a 100 MB
 * checkpoint is not copied twice): do not modify the input afterwards.
 */

const PthOptionsSchema = z.strictObject({
  /** Name used in messages (defaults to the path for `loadPth`). */
  fileName: z.string().optional(),
  /** Key of the state dict inside a wrapping checkpoint dict; detected when omitted. */
  key: z.string().optional(),
  /** Prefix removed when every name has it (DataParallel's `module.`); false keeps names. */
  stripPrefix: z.union([z.string().min(1), z.literal(false)]).default('module.'),
});
export type PthOptions = z.input<typeof PthOptionsSchema>;

export interface PthCheckpoint {
  tensors: NamedTensors;
  /** Keys followed from the top-level object to the state dict (e.g. ['state_dict']). */
  path: string[];
  /** The prefix that was removed from every name, if any. */
  strippedPrefix?: string;
}

/** Keys under which training scripts commonly nest the model's state dict, in order of preference. */
const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'network'];

const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

interface StorageRef {
  readonly kind: 'storage';
  readonly key: string;
  readonly dtype: StorageDType;
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly view: TensorView,
  ) {}
}

function parseOptions(options: PthOptions | undefined) {
  return parseOrThrow(PthOptionsSchema, options ?? {}, 'Invalid .pth reader options');
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  if (bytes.length < prefix.length) return false;
  return prefix.every((b, i) => bytes[i] === b);
}

function isLegacyTar(bytes: Uint8Array): boolean {
  return bytes.length > 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar';
}

/** Read a checkpoint from its bytes; see the module comment for what is accepted. */
export function readPthCheckpoint(bytes: Uint8Array, options?: PthOptions): PthCheckpoint {
  const opts = parseOptions(options);
  const file = opts.fileName ?? 'checkpoint';
  const resave = `torch.save(torch.load('${basename(file)}', map_location='cpu'), 'resaved.pth')`;

  if (startsWith(bytes, LEGACY_MAGIC) || isLegacyTar(bytes)) {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\` is in PyTorch's legacy (pre-1.6) serialization format, which headstart does not read`, {
      hint: `if you trust the file, re-save it with torch >= 1.6, whose default is the zip format (_use_new_zipfile_serialization=True), in Python: ${resave}`,
    });
  }
  if (!startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) {
    const looksSafetensors = bytes.length >= 9 && bytes[8] === 0x7b;
    const looksPickle = bytes[0] === 0x80;
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\` is not a PyTorch zip checkpoint (it does not start with a zip header)`, {
      hint: looksSafetensors
        ? 'it looks like a safetensors file: load it as safetensors'
        : looksPickle
          ? `it is a bare pickle, not written by torch.save; if you trust it, re-save its tensors with ${resave}`
          : 'expected a file written by torch.save (torch >= 1.6)',
    });
  }

  const entries = readZipEntries(bytes, file);
  const names = [...entries.keys()];
  const pkl = names.filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  const prefix = pkl.length === 1 ? pkl[0].slice(0, -'data.pkl'.length) : '';
  if (names.some((n) => n.endsWith('constants.pkl') || n.includes('/code/'))) {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\` is a TorchScript archive (torch.jit.save), not a state dict`, {
      hint: "save the model's weights instead, in Python: torch.save(torch.jit.load(f).state_dict(), 'weights.pth')",
    });
  }
  if (pkl.length !== 1) {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\`: expected one data.pkl in the zip archive, found ${pkl.length}`, {
      hint: 'expected a file written by torch.save (torch >= 1.6)',
    });
  }
  const byteorder = entries.get(`${prefix}byteorder`);
  const bigEndian = byteorder !== undefined && new TextDecoder().decode(byteorder).trim() === 'big';

  const refuse = (qualified: string): never => {
    throw new WeightsError(
      'E_UNSAFE_WEIGHTS',
      `\`${file}\`: refusing the pickled global \`${qualified}\`: a checkpoint may only reference tensor rebuilds, storage types and OrderedDict, and headstart never runs code from a weight file`,
      {
        hint: `if you trust the file, load it in Python and save only the model's state dict (a dict of tensors): torch.save(model.state_dict(), 'weights.pth')`,
      },
    );
  };

  const root = unpickle(entries.get(pkl[0])!, {
    source: `${file}: ${pkl[0]}`,
    findClass: (module, name) => findClass(module, name, file) ?? refuse(`${module}.${name}`),
    persistentLoad: (pid) => storageRef(pid, file),
    build: (obj) => obj, // OrderedDict's `_metadata` and similar attributes are dropped
  });

  const picked = pickStateDict(root, opts.key, file);
  const refs = new Map<string, TensorRef>();
  collectTensors(picked.node, '', refs, file);
  if (refs.size === 0) {
    const keys = root instanceof Map ? [...root.keys()].map(String).slice(0, 12).join(', ') : describe(root);
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\` holds no tensors${root instanceof Map ? ` (top-level keys: ${keys})` : ` (its top-level object is ${keys})`}`, {
      hint: 'save a state dict: torch.save(model.state_dict(), f)',
    });
  }

  let strippedPrefix: string | undefined;
  const p = opts.stripPrefix;
  if (p !== false && [...refs.keys()].every((k) => k.startsWith(p))) strippedPrefix = p;

  // A storage viewed by one tensor only can be handed out without a copy.
  const viewers = new Map<string, number>();
  for (const ref of refs.values()) viewers.set(ref.storage.key, (viewers.get(ref.storage.key) ?? 0) + 1);

  const tensors: NamedTensors = new Map();
  for (const [name, ref] of refs) {
    const storage = entries.get(`${prefix}data/${ref.storage.key}`);
    if (storage === undefined) {
      throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\`: tensor \`${name}\` refers to storage ${ref.storage.key}, which is missing from the archive`, {
        hint: 'the file is damaged: copy or download it again',
      });
    }
    const outName = strippedPrefix ? name.slice(strippedPrefix.length) : name;
    const t: HostTensor = materialiseView(storage, ref.view, outName, { bigEndian, mayShare: viewers.get(ref.storage.key) === 1 });
    tensors.set(outName, t);
  }
  return { tensors, path: picked.path, strippedPrefix };
}

/** Read a checkpoint's tensors from its bytes. */
export function readPth(bytes: Uint8Array, options?: PthOptions): NamedTensors {
  return readPthCheckpoint(bytes, options).tensors;
}

/** Read a checkpoint file's tensors (the file is read whole). */
export async function loadPth(path: string, options?: PthOptions): Promise<NamedTensors> {
  const bytes = await readFileOrThrow(path, 'weight file', 'check the path given with --weights');
  return readPth(bytes, { fileName: path, ...options });
}

// ---------------------------------------------------------------------------------------
// The whitelist

const callable = (name: string, call: (args: readonly unknown[]) => unknown): PyCallable => ({ kind: 'callable', name, call });
const constant = (name: string, value: unknown): PyConstant => ({ kind: 'constant', name, value });

function findClass(module: string, name: string, file: string): PyGlobal | undefined {
  const qualified = `${module}.${name}`;
  const bad = (what: string): never => {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\`: bad arguments to \`${qualified}\`: ${what}`, { hint: 'the checkpoint is damaged or was not written by torch.save' });
  };
  if (module === 'collections' && name === 'OrderedDict') {
    return callable(qualified, (args) => {
      const m = new Map<unknown, unknown>();
      const items = args[0];
      if (items !== undefined && items !== null) {
        if (!Array.isArray(items)) bad('expected a list of pairs');
        for (const kv of items as unknown[]) {
          if (!Array.isArray(kv) || kv.length !== 2) bad('expected a list of pairs');
          m.set((kv as unknown[])[0], (kv as unknown[])[1]);
        }
      }
      return m;
    });
  }
  if (module === 'torch._utils') {
    switch (name) {
      case '_rebuild_tensor':
      case '_rebuild_tensor_v2':
        return callable(qualified, (args) => tensorRef(args[0], args[1], args[2], args[3], undefined, bad));
      case '_rebuild_tensor_v3':
        return callable(qualified, (args) => tensorRef(args[0], args[1], args[2], args[3], args[6], bad));
      case '_rebuild_parameter':
      case '_rebuild_parameter_with_state':
        return callable(qualified, (args) => {
          if (!(args[0] instanceof TensorRef)) bad('expected a tensor');
          return args[0];
        });
    }
    return undefined;
  }
  if (module === 'torch._tensor' && name === '_rebuild_from_type_v2') {
    // torch >= 2 wraps tensors that carry Python attributes: (func, type, args, state).
    // Only a whitelisted rebuild function and the plain Tensor/Parameter types pass.
    return callable(qualified, (args) => {
      const [func, type, inner] = args as [PyGlobal | undefined, PyGlobal | undefined, unknown];
      if (func?.kind !== 'callable' || !Array.isArray(inner)) bad('expected (rebuild function, type, args, state)');
      if (type?.kind !== 'constant' || (type.value as { tensorType?: boolean } | undefined)?.tensorType !== true) {
        bad(`tensor subclass \`${type?.name ?? '?'}\` is not supported`);
      }
      return (func as PyCallable).call(inner as unknown[]);
    });
  }
  if ((module === 'torch' && name === 'Tensor') || (module === 'torch.nn.parameter' && name === 'Parameter')) {
    return constant(qualified, { tensorType: true });
  }
  if (module === 'torch') {
    if (name in STORAGE_TYPES) return constant(qualified, { storageDType: STORAGE_TYPES[name] });
    if (name === 'UntypedStorage') return constant(qualified, { storageDType: 'uint8' });
    if (name in TORCH_DTYPES) return constant(qualified, { dtype: TORCH_DTYPES[name] });
    if (name === 'Size') {
      return callable(qualified, (args) => {
        if (!Array.isArray(args[0])) bad('expected a tuple of sizes');
        return Object.freeze([...(args[0] as unknown[])]);
      });
    }
    if (name.endsWith('Storage')) {
      throw new WeightsError('E_UNSUPPORTED_DTYPE', `\`${file}\`: unsupported storage type \`${qualified}\``, {
        hint: `supported element types: ${Object.values(STORAGE_TYPES).join(', ')}; convert the tensors in Python, e.g. t.float()`,
      });
    }
    return undefined;
  }
  if (module === '_codecs' && name === 'encode') {
    // How protocol 2 writes Python 3 bytes: encode(str, 'latin1').
    return callable(qualified, (args) => {
      const [s, enc] = args;
      if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) bad('expected (str, "latin1")');
      return Uint8Array.from(s as string, (c) => c.charCodeAt(0) & 0xff);
    });
  }
  return undefined;
}

function storageRef(pid: unknown, file: string): StorageRef {
  // torch.save writes ('storage', storage_type, key, location, numel).
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\`: unexpected persistent id ${describe(pid)}`, { hint: 'expected a file written by torch.save (torch >= 1.6)' });
  }
  const type = pid[1] as PyConstant | undefined;
  const storageDType = (type?.value as { storageDType?: StorageDType } | undefined)?.storageDType;
  if (type?.kind !== 'constant' || storageDType === undefined) {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\`: persistent id names no storage type (${describe(pid[1])})`, { hint: 'expected a file written by torch.save (torch >= 1.6)' });
  }
  return { kind: 'storage', key: String(pid[2]), dtype: storageDType };
}

function intList(v: unknown): number[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: number[] = [];
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) return undefined;
    out.push(x);
  }
  return out;
}

function tensorRef(storage: unknown, offset: unknown, size: unknown, stride: unknown, dtypeArg: unknown, bad: (what: string) => never): TensorRef {
  const s = storage as StorageRef;
  if (typeof storage !== 'object' || storage === null || s.kind !== 'storage') bad('expected a storage');
  const shape = intList(size);
  const strides = intList(stride);
  if (!shape || !strides || typeof offset !== 'number') return bad('expected (storage, offset, sizes, strides, ...)');
  let dtype = s.dtype;
  if (dtypeArg !== undefined) {
    const d = ((dtypeArg as PyConstant)?.value as { dtype?: StorageDType } | undefined)?.dtype;
    if (d === undefined) bad('expected a torch dtype');
    dtype = d!;
  }
  return new TensorRef(s, { dtype, offset, shape, stride: strides });
}

// ---------------------------------------------------------------------------------------
// Finding the state dict inside what was pickled

function hasDirectTensor(m: Map<unknown, unknown>): boolean {
  for (const v of m.values()) if (v instanceof TensorRef) return true;
  return false;
}

function pickStateDict(root: unknown, key: string | undefined, file: string): { node: unknown; path: string[] } {
  if (key !== undefined) {
    if (!(root instanceof Map) || !root.has(key)) {
      const keys = root instanceof Map ? [...root.keys()].map(String).join(', ') : describe(root);
      throw new WeightsError('E_BAD_OPTION', `\`${file}\` has no key \`${key}\` (top-level keys: ${keys})`, { hint: 'name one of the top-level keys' });
    }
    return { node: root.get(key), path: [key] };
  }
  if (root instanceof Map && !hasDirectTensor(root)) {
    for (const k of WRAPPER_KEYS) {
      const v: unknown = root.get(k);
      if (v instanceof Map) return { node: v, path: [k] };
    }
  }
  return { node: root, path: [] };
}

/** Tensors of a (possibly nested) dict, names joined with '.'; other values are skipped. */
function collectTensors(node: unknown, prefix: string, out: Map<string, TensorRef>, file: string, seen = new Set<unknown>()): void {
  if (node instanceof TensorRef) {
    out.set(prefix.replace(/\.$/, ''), node);
    return;
  }
  if (!(node instanceof Map)) return;
  // A pickle can make a dict contain itself (memo references) or nest absurdly deep.
  if (seen.has(node)) return;
  if (seen.size >= 64) {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\`: dicts nested more than 64 deep`, { hint: 'save a flat state dict: torch.save(model.state_dict(), f)' });
  }
  seen.add(node);
  for (const [k, v] of node) {
    if (typeof k !== 'string' && typeof k !== 'number') continue;
    if (v instanceof TensorRef) out.set(prefix + String(k), v);
    else if (v instanceof Map) collectTensors(v, `${prefix}${String(k)}.`, out, file, seen);
  }
  seen.delete(node);
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return `a tuple/list of ${v.length}`;
  if (v instanceof Map) return 'a dict';
  if (typeof v === 'object' && 'name' in v) return `\`${(v as PyGlobal).name}\``;
  return typeof v;
}
