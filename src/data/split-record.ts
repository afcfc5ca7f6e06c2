/**
 * How a run's train and val images were obtained, as the trained model records it (in
 * model.onnx's metadata and config.json): from the dataset's own train/ and val/ folders, or
 * split off a root of class folders by a seeded, stratified fraction — with a fingerprint of
 * the listing it was drawn from, so `evaluate` can tell the training root again and reproduce
 * exactly that run's val images. No Node built-ins here (the web page bundles the metadata).
 */
import { z } from 'zod';

export const SplitRecordSchema = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('folders') }),
  z.strictObject({
    source: z.literal('split'),
    /** The fraction of each class held out for val (--val-split). */
    valFraction: z.number().min(0).lt(1),
    /** The seed of the split (--seed). */
    seed: z.int().nonnegative(),
    /** sha256 of the class-folder listing the split was drawn from (src/data/listing-fingerprint.ts). */
    listing: z.string().regex(/^[0-9a-f]{64}$/),
    trainImages: z.int().nonnegative(),
    valImages: z.int().nonnegative(),
  }),
]);

export type SplitRecord = z.output<typeof SplitRecordSchema>;
