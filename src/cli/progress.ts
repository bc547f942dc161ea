import cliProgress from 'cli-progress';

/**
 * A progress bar on stderr when it is a terminal (nothing otherwise: output for machines stays
 * clean). `update` takes the work done and the total, and a short status text.
 */
export function progressBar(label: string): {
  update(done: number, total: number, status: string): void;
  stop(): void;
} {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {status}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, status) {
      if (!started) {
        bar.start(Math.max(total, 1), done, { status });
        started = true;
      }
      bar.setTotal(Math.max(total, 1));
      bar.update(done, { status });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
