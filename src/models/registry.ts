import { ConfigError } from '../errors.js';
import type { ModelSpec } from './model-spec.js';
import { efficientnetB0 } from './zoo/efficientnet.js';
import { mobilenetV2, mobilenetV3Large } from './zoo/mobilenet.js';
import { mobilenetV2Offline } from './zoo/mobilenet-v2-offline.js';
import { resnet18, resnet34, resnet50 } from './zoo/resnet.js';

const models = new Map<string, ModelSpec>();

export function registerModel(spec: ModelSpec): void {
  if (models.has(spec.name)) throw new ConfigError(`Model ${spec.name} is registered twice`);
  models.set(spec.name, spec);
}

export function getModel(name: string): ModelSpec {
  const spec = models.get(name);
  if (!spec) throw new ConfigError(`Unknown model \`${name}\``, { hint: `choose one of: ${[...models.keys()].join(', ')}` });
  return spec;
}

export function listModels(): ModelSpec[] {
  return [...models.values()];
}

for (const spec of [resnet18, resnet34, resnet50, mobilenetV2, mobilenetV3Large, efficientnetB0, mobilenetV2Offline]) registerModel(spec);
