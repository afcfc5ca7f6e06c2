/** Whether process `pid` runs on this machine (EPERM: it runs, as another user). Lock files use it to spot a dead holder. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
