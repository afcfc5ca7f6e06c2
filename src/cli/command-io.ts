/**
 * Where a command writes: stdout, stderr and whether stderr is a terminal (progress bars).
 * Commands take it as an optional last argument so tests can capture their output.
 */
export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
  /** Draw progress bars (stderr is a TTY). */
  tty: boolean;
}

export const processIO: CommandIO = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  get tty() {
    return Boolean(process.stderr.isTTY);
  },
};
