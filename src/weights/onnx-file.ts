import { closeSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { HeadstartError, IOError, WeightsError } from '../errors.js';
import type { ImportedGraph } from '../onnx/import-graph.js';
import { importGraph, isExternal } from '../onnx/import-graph.js';
import { parseModel, tensorFromProto, type ParsedModel } from '../onnx/serialize.js';
import type { HostTensor } from '../tensor.js';

/**
 * Reads a .onnx file and imports it, with its external data (initializers whose bytes live in
 * another file, as exporters write models over 2 GB). A data file is read only when it sits
 * in the model's own folder (or below it): an absolute `location`, one with `..`, or a
 * symbolic link that resolves outside the folder is refused before anything is opened.
 */
export function readOnnxFile(file: string, options: { dynamicDim?: number } = {}): ImportedGraph {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'E_NOT_FOUND' : 'E_READ_FAILED';
    throw new IOError(code, `Cannot read the ONNX model \`${file}\`: ${(err as Error).message}`, { cause: err, hint: 'check the path given to --model' });
  }
  let model: ParsedModel['model'];
  try {
    ({ model } = parseModel(bytes));
  } catch (err) {
    if (!(err instanceof HeadstartError)) throw err;
    throw new WeightsError('E_BAD_MODEL_FILE', `\`${file}\` is not an ONNX model: ${err.message.replace(/^The ONNX file /, 'it ').replace(/^Not a valid ONNX file: /, '')}`, {
      hint: err.hint,
      cause: err,
    });
  }
  const external = new Map<string, HostTensor>();
  for (const t of model.graph?.initializer ?? []) {
    if (!isExternal(t)) continue;
    const entries = Object.fromEntries((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = entries.location ?? '';
    const data = resolveExternalPath(file, location, t.name ?? '');
    const offset = Number(entries.offset ?? 0);
    const size = statSync(data).size;
    const length = entries.length !== undefined ? Number(entries.length) : size - offset;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new WeightsError('E_BAD_WEIGHTS', `Initializer \`${t.name}\` of \`${file}\`: bytes ${offset}..${offset + length} lie outside its data file \`${location}\` (${size} bytes)`, {
        hint: 'the data file is truncated or belongs to another model',
      });
    }
    const raw = new Uint8Array(length);
    const fd = openSync(data, 'r');
    try {
      readSync(fd, raw, 0, length, offset);
    } finally {
      closeSync(fd);
    }
    external.set(t.name ?? '', tensorFromProto({ ...t, rawData: raw, dataLocation: 0, externalData: [] }));
  }
  return importGraph(bytes, { ...options, externalData: external });
}

/** The data file of an external initializer, proven to lie inside the model's folder. */
function resolveExternalPath(modelFile: string, location: string, tensor: string): string {
  const folder = path.dirname(path.resolve(modelFile));
  const unsafe = (why: string) =>
    new WeightsError(
      'E_UNSAFE_WEIGHTS',
      `Initializer \`${tensor}\` of \`${modelFile}\` points to external data \`${location}\`, ${why}; headstart reads external data only from the model's own folder`,
      {
        hint: 'keep the .onnx file and its data file side by side, with a relative location',
      },
    );
  if (location === '' || location.includes('\0')) throw unsafe('an empty or invalid path');
  if (path.isAbsolute(location) || path.win32.isAbsolute(location)) throw unsafe('an absolute path');
  if (location.split(/[\\/]/).includes('..')) throw unsafe('a path that leaves the folder (`..`)');
  const target = path.resolve(folder, location);
  let real: string;
  try {
    real = realpathSync(target);
  } catch (err) {
    throw new IOError('E_NOT_FOUND', `Initializer \`${tensor}\` of \`${modelFile}\` keeps its data in \`${location}\`, which does not exist beside the model`, {
      cause: err,
      hint: 'copy the data file next to the .onnx file',
    });
  }
  const realFolder = realpathSync(folder);
  if (!real.startsWith(realFolder + path.sep)) throw unsafe(`a link that resolves outside the folder (to \`${real}\`)`);
  return real;
}
