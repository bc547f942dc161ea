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
