/**
 * headstart's public API: the library calls behind the CLI, one per command.
 *
 *   import { train, predict, evaluate } from 'headstart';
 *   const run = await train('assets/fashion-mnist-mini', { model: 'mobilenet_v2_offline', mode: 'features', epochs: 10 });
 *   const { predictions } = await predict(run.modelPath!, ['photo.jpg']);
 */
export { train, type TrainResult } from './train/train.js';
export { compare, type CompareResult, type CompareModeSummary, type PairedComparison, type LearningCurve } from './train/compare.js';
export { lrFind, LrFindOptionsSchema, type LrFindOptions, type LrFindResult } from './train/lr-find.js';
export { predict, type PredictOptions, type PredictResult, type Prediction } from './infer/predict.js';
export { evaluate, type EvaluateOptions, type EvaluateResult } from './infer/evaluate.js';
export { exportModel, type ExportOptions, type ExportResult } from './infer/export.js';
export { readClassifier, readClassifierMetadataFromBytes, writeClassifier, type ClassifierMetadata } from './infer/model-file.js';
export { getModel, listModels, registerModel } from './models/registry.js';
export type { ModelSpec, ModelPreprocess, BuiltinWeights } from './models/model-spec.js';
export { onnxBackboneSpec, isOnnxModelPath } from './models/onnx-backbone.js';
export type { OnnxBackboneOptions } from './models/onnx-backbone.js';
export { readOnnxFile } from './weights/onnx-file.js';
/** What a ModelSpec's `features` builds the network with (see CONTRIBUTING.md: adding a model). */
export { NetBuilder } from './models/net-builder.js';
export { scanImageFolder, type ImageFolder } from './data/image-folder.js';
export { doctor, type DoctorOptions, type DoctorReport } from './data/doctor.js';

export { RECIPES, TrainOptionsSchema, CompareOptionsSchema, type TrainOptions, type CompareOptions, type ResolvedTrainConfig, type TrainMode, type RecipeName } from './train/options.js';
export { TRAIN_EVENT_NAMES, type TrainHooks, type TrainEvents, type TrainEventName, type TrainListener, type TrainContext } from './train/events.js';
export { plainLog } from './train/listeners/plain-log.js';
export { jsonLines } from './train/listeners/json-lines.js';
export { earlyStopping } from './train/listeners/early-stopping.js';
export { readCheckpoint, type CheckpointState } from './train/checkpoint.js';
export { historyFromJson, type History, type EpochRecord } from './metrics/history.js';
export { ERROR_CODES, type ErrorCode, HeadstartError, IOError, ConfigError, DataError, WeightsError, DownloadError, EngineError, GraphError, TrainingError } from './errors.js';
export { mcnemarExact, mcnemarTest, meanInterval, type McNemarResult, type MeanInterval } from './metrics/paired-test.js';
export { startServer, type ServeOptions, type ServeHandle } from './serve/serve.js';
export { eventsFile } from './train/listeners/events-file.js';
export { verifyClassifier, type VerifyOptions, type VerifyReport } from './infer/verification.js';
export { verifyClassifierInBrowser } from './infer/verify-browser.js';
export { VERIFICATION_KEY, type VerificationRecord } from './infer/verification-record.js';
export { CLASSIFIER_OUTPUTS } from './graphs/calibrated-outputs.js';
export { type RejectionEvaluation } from './infer/rejection-evaluation.js';
export { outOfFoldProbabilities, type OutOfFoldOptions } from './train/out-of-fold.js';
export { rankLabelIssues, type LabelIssue } from './metrics/label-issues.js';
