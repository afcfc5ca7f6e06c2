/**
 * How many ONNX Runtime threads to run: the request, capped at the machine's cores (more
 * threads than cores only take turns on them and make each step slower), with a sentence
 * saying so when it capped.
 */
import os from 'node:os';

export interface ThreadCount {
  threads: number;
  /** Why the request was not used as given, or null. */
  note: string | null;
}

export function threadCount(requested?: number | null, cores = os.availableParallelism()): ThreadCount {
  if (requested === undefined || requested === null) return { threads: cores, note: null };
  if (requested <= cores) return { threads: requested, note: null };
  return {
    threads: cores,
    note: `--threads ${requested} is more than this machine's ${cores} core${cores === 1 ? '' : 's'}: using ${cores} (more threads than cores only take turns and slow each step down)`,
  };
}
