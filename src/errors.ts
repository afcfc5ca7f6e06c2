/**
 * Every failure headstart reports is a HeadstartError: a stable `code` for programs,
 * a `message` that says what failed, where, what was expected and what was found,
 * and a `hint` that says how to fix it. The original error is chained as `cause`.
 */
export interface HeadstartErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class HeadstartError extends Error {
  readonly code: string;
  readonly hint?: string;

  constructor(code: string, message: string, options: HeadstartErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }

  /** One line for a terminal: message and hint. */
  toLine(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

/** A user-supplied value (flag, option, config field) is invalid. */
export class ConfigError extends HeadstartError {
  constructor(message: string, options?: HeadstartErrorOptions) {
    super('E_CONFIG', message, options);
  }
}

/** A graph could not be built: unknown op, shape mismatch, missing gradient rule. */
export class GraphError extends HeadstartError {
  constructor(message: string, options?: HeadstartErrorOptions) {
    super('E_GRAPH', message, options);
  }
}

/** ONNX Runtime failed to create a session or run a graph. */
export class EngineError extends HeadstartError {
  constructor(message: string, options?: HeadstartErrorOptions) {
    super('E_ENGINE', message, options);
  }
}

/** A dataset folder or an image file is unusable. */
export class DataError extends HeadstartError {
  constructor(message: string, options?: HeadstartErrorOptions) {
    super('E_DATA', message, options);
  }
}

/** A weight file is unreadable, unsafe, or does not fit the model. */
export class WeightsError extends HeadstartError {
  constructor(message: string, options?: HeadstartErrorOptions) {
    super('E_WEIGHTS', message, options);
  }
}

/** A download failed: network, HTTP status, truncation or checksum. */
export class DownloadError extends HeadstartError {
  constructor(message: string, options?: HeadstartErrorOptions) {
    super('E_DOWNLOAD', message, options);
  }
}

/** Training stopped: non-finite loss, interrupted, bad checkpoint. */
export class TrainingError extends HeadstartError {
  constructor(message: string, options?: HeadstartErrorOptions) {
    super('E_TRAIN', message, options);
  }
}
