import { closest } from '../closest-name.js';
import { ConfigError } from '../errors.js';
import { efficientnetB0 } from './efficientnet.js';
import type { ModelSpec } from './model-spec.js';
import { mobilenetV2 } from './mobilenet-v2.js';
import { mobilenetV2Offline } from './mobilenet-v2-offline.js';
import { mobilenetV3Large } from './mobilenet-v3.js';
import { resnet18, resnet34, resnet50 } from './resnet.js';

const models = new Map<string, ModelSpec>();

export function registerModel(spec: ModelSpec): void {
  if (models.has(spec.name)) throw new ConfigError('E_BAD_OPTION', `Model ${spec.name} is registered twice`, { hint: 'give the new model another name' });
  models.set(spec.name, spec);
}

export function getModel(name: string): ModelSpec {
  const spec = models.get(name);
  if (!spec) {
    const guess = closest(name, [...models.keys()]);
    throw new ConfigError('E_UNKNOWN_MODEL', `Unknown model \`${name}\`${guess ? ` (did you mean ${guess}?)` : ''}`, { hint: `choose one of: ${[...models.keys()].join(', ')}` });
  }
  return spec;
}

export function listModels(): ModelSpec[] {
  return [...models.values()];
}

for (const spec of [resnet18, resnet34, resnet50, mobilenetV2, mobilenetV3Large, efficientnetB0, mobilenetV2Offline]) registerModel(spec);
