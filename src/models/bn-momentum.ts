/**
 * The BatchNorm policy for fine-tuning, the same for every model: how fast the running
 * statistics follow the batches while the weights move (torch's convention, new = (1 - m) *
 * running + m * batch).
 *
 *   - `--bn-momentum` (the `bnMomentum` option) wins when given;
 *   - else a model trained with torch's convention keeps its own momentum (`ModelSpec.bnMomentum`:
 *     0.1 for torchvision's ResNets, MobileNetV2 and EfficientNet-B0, 0.01 for MobileNetV3);
 *   - else (an imported model, e.g. a Keras network whose 0.999 is torch's 0.001) the statistics
 *     adapt at the recipe's rate, torch's 0.1. Carried over, Keras's rate leaves the statistics at
 *     the source data's values while fine-tuning changes the weights under them: eval accuracy
 *     fell 17 points below PyTorch's on real photos (DESIGN.md, issue 9).
 */

/** torch's default BatchNorm momentum, the rate of the torchvision recipe. */
export const TORCH_BN_MOMENTUM = 0.1;

export interface BnMomentumChoice {
  momentum: number;
  /** Where the value came from: the option, the model's own, or the recipe's rate. */
  source: 'option' | 'model' | 'recipe';
}

export function resolveBnMomentum(modelMomentum: number | undefined, requested: number | undefined, recipeRate: number = TORCH_BN_MOMENTUM): BnMomentumChoice {
  if (requested !== undefined) return { momentum: requested, source: 'option' };
  if (modelMomentum !== undefined) return { momentum: modelMomentum, source: 'model' };
  return { momentum: recipeRate, source: 'recipe' };
}

/** One line for the run's log: the value and why. */
export function describeBnMomentum(model: string, choice: BnMomentumChoice): string {
  const why =
    choice.source === 'option'
      ? 'as --bn-momentum asks'
      : choice.source === 'model'
        ? `${model}'s own (trained with torch's convention)`
        : `the recipe's rate: ${model} was imported from another convention, so its running statistics adapt to the new data at torch's rate (--bn-momentum to change)`;
  return `BatchNorm momentum ${choice.momentum} (torch convention), ${why}`;
}
