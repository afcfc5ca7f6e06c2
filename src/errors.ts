/**
 * Every failure headstart reports is a HeadstartError. The class is the category (what kind
 * of thing went wrong: a user's option, a graph, the engine, data, weights, a download,
 * training, the file system); `code` names the specific failure, stable for programs and
 * tests; `message` says what failed, where, what was expected and what was found; `hint`
 * says how to fix it. The original error is chained as `cause`.
 */

/** The specific failures. Add a code here when a new failure needs telling apart. */
export const ERROR_CODES = [
  // options and usage
  'E_BAD_OPTION', // an option's value is out of range, of the wrong type, or unknown
  'E_BAD_ARGUMENT', // a library function got data it cannot use (empty, out of range, inconsistent lengths)
  'E_UNKNOWN_OPTION', // an option or flag that does not exist
  'E_USAGE', // a command line that cannot be parsed (missing argument, bad flag)
  'E_UNKNOWN_MODEL', // a model name the registry does not hold
  'E_INCOMPATIBLE_OPTIONS', // options that contradict each other (on the command line alone)
  'E_INCOMPATIBLE_INPUT', // an input (model file, dataset, checkpoint) that does not suit what was asked
  // graphs
  'E_SHAPE_MISMATCH', // a tensor's shape differs from the one expected
  'E_UNSUPPORTED_OP', // an op or layer (or an attribute form of one) headstart cannot build or import
  'E_UNSUPPORTED_DTYPE', // a tensor element type headstart does not read
  'E_NO_GRADIENT', // an op on a trainable path has no gradient rule
  'E_BAD_GRAPH', // a graph that is malformed: unknown value, duplicate name, non-constant shape input
  // engine
  'E_ENGINE_SESSION', // ONNX Runtime could not create a session
  'E_ENGINE_RUN', // ONNX Runtime failed to run a graph
  'E_DEVICE', // an execution provider that is missing or unusable
  // data
  'E_NO_DATA', // a dataset folder with no usable images or classes
  'E_BAD_LAYOUT', // a dataset folder whose layout is not train/val/class folders
  'E_BAD_IMAGE', // an image file that cannot be decoded
  // weights and model files
  'E_BAD_WEIGHTS', // a weight file that is damaged, truncated or of an unknown format
  'E_UNSAFE_WEIGHTS', // a pickle that would run code, or a path that leaves its folder
  'E_WEIGHTS_MISMATCH', // weights that do not fit the model (names, architecture)
  'E_NO_WEIGHTS', // no weight file given and none known to download
  'E_BAD_MODEL_FILE', // a model.onnx that cannot be read or lacks what headstart needs
  // downloads
  'E_OFFLINE', // the network (or the server) cannot be reached
  'E_HTTP', // the server answered with an error status
  'E_TRUNCATED', // a download that broke off before the whole file arrived
  'E_CHECKSUM', // a downloaded (or cached, or bundled) file's sha256 differs from the expected one
  // training
  'E_DIVERGED', // the loss, a gradient or a model's output became non-finite
  'E_INTERRUPTED', // the run was interrupted (a checkpoint was kept)
  'E_NO_CHECKPOINT', // --resume without a checkpoint, or one from another run
  'E_BAD_CHECKPOINT', // a checkpoint (or an optimiser/scheduler state in it) that is truncated or of another version
  'E_BAD_HISTORY', // a training history (history.json or an epoch record) that is invalid or out of order
  'E_LR_FIND_FAILED', // the learning-rate range test could not suggest a rate (too few batches, or the loss diverged at once)
  // file system
  'E_NOT_FOUND', // a file, folder or package that does not exist
  'E_WRITE_FAILED', // an output file or folder could not be written
  'E_READ_FAILED', // an input file could not be read (E_NOT_FOUND when it does not exist)
  'E_VERIFY_MISMATCH', // a model's stored self-check disagrees with what the runtime (or the stored preprocessing) gives
  'E_NO_BROWSER', // the headless browser needed (Chromium) is absent or cannot start
  'E_INTERNAL', // a bug in headstart: please report it
  'E_TOO_FEW_CLASSES', // a dataset with fewer than 2 classes: nothing to classify
  'E_OUTPUT_EXISTS', // an output folder that already holds a run (overwritten only with --overwrite)
  // web app (headstart serve)
  'E_OUTSIDE_ROOT', // a requested path that leaves the served folder (.., absolute, a symlink out)
  'E_DATASET_LOCKED', // another server or tab holds the dataset's change-log lock
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface HeadstartErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class HeadstartError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, options: HeadstartErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }

  /** The category: the class name without `Error` (`Config`, `Graph`, ...). */
  get category(): string {
    return this.name.replace(/Error$/, '');
  }

  /** One line for a terminal: message and hint. */
  toLine(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

/** A user-supplied value (flag, option, config field) is invalid. */
export class ConfigError extends HeadstartError {}

/** A graph could not be built or imported: unknown op, shape mismatch, missing gradient rule. */
export class GraphError extends HeadstartError {}

/** ONNX Runtime failed to create a session or run a graph, or a device is unusable. */
export class EngineError extends HeadstartError {}

/** A dataset folder or an image file is unusable. */
export class DataError extends HeadstartError {}

/** A weight file or model file is unreadable, unsafe, or does not fit the model. */
export class WeightsError extends HeadstartError {}

/** A download failed: network, HTTP status, truncation or checksum. */
export class DownloadError extends HeadstartError {}

/** Training stopped: non-finite loss, interrupted, bad checkpoint. */
export class TrainingError extends HeadstartError {}

/** The file system refused: an output could not be written, an input could not be read. */
export class IOError extends HeadstartError {}
