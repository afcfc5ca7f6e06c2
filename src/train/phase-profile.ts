/**
 * Where a run's one-off costs go: with HEADSTART_PROFILE_PHASES=1 in the environment, `profiled(label, fn)`
 * writes one line per call to stderr — wall and CPU milliseconds (CPU of the whole process, every thread:
 * ONNX Runtime's and oneDNN's pools included; on a loaded machine only the CPU figure means much). Without
 * it, `profiled` just runs `fn`.
 */
const enabled = (env: NodeJS.ProcessEnv = process.env) => env.HEADSTART_PROFILE_PHASES === '1';

export async function profiled<T>(label: string, fn: () => T | Promise<T>): Promise<T> {
  if (!enabled()) return fn();
  const wall = performance.now();
  const cpu = process.cpuUsage();
  try {
    return await fn();
  } finally {
    const c = process.cpuUsage(cpu);
    process.stderr.write(`[profile] ${label}: wall ${(performance.now() - wall).toFixed(0)} ms, cpu ${((c.user + c.system) / 1000).toFixed(0)} ms\n`);
  }
}
