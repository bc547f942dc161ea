/**
 * Resolves after the first SIGINT/SIGTERM has run `stop` (stop accepting, flush, commit).
 * A second signal exits at once: nothing acknowledged is lost either way, the log is durable.
 */
export function onShutdown(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stderr.write(`tally: ${signal}: stopping (flush, commit)\n`);
      stop().then(resolve, reject);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

/**
 * After a clean stop (everything committed, every client closed): should something still hold
 * the process (a Kafka client's socket or timer after a broker outage was seen to), it says
 * what and exits after `ms` rather than hang. The timer is unref'd: a process with nothing
 * left exits at once, as before.
 */
export function exitIfHeld(ms = 5_000): void {
  setTimeout(() => {
    const held = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
    process.stderr.write(
      `tally: stopped, still held after ${ms} ms by ${held.join(', ')}: exiting\n`,
    );
    process.exit(0);
  }, ms).unref();
}
