import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../config/index.js';
import { TallyError, isTallyError } from '../core/errors.js';
import { writeFileAtomic } from '../adapters/log-embedded/fs-durable.js';
import type { CheckpointStore } from '../services/watcher/checkpoint.js';
import { ingestSink } from '../services/watcher/line-sink.js';
import { serveStatus } from '../services/watcher/status-server.js';
import { LogWatcher } from '../services/watcher/watcher.js';
import type { Logger } from '../services/observability/logger.js';
import { createMetrics } from '../services/observability/metrics.js';
import { openIngestTarget } from './ingest-target.js';
import { dataPaths } from './paths.js';

export interface WatchApp {
  watcher: LogWatcher;
  /** http://host:port of /metrics and /status, when a status port was asked for */
  statusUrl: string | undefined;
  /** stops the watcher (sends in flight finish, checkpoint written), then closes everything */
  close(): Promise<void>;
}

export interface OpenWatchOptions {
  logger: Logger;
  patterns: readonly string[];
  cwd: string;
  /** serve /metrics and /status on config.http.host at this port (0: any free port) */
  statusPort?: number | undefined;
  /** run the aggregator in this process too */
  aggregate?: boolean;
  once?: boolean;
}

/** Where the watcher keeps its read positions, below --data-dir. */
export function watchCheckpointPath(dataDir: string): string {
  return join(dataPaths(dataDir).root, 'watch', 'checkpoint.json');
}

function fileCheckpoint(path: string): CheckpointStore {
  let made = false;
  return {
    where: path,
    async load() {
      try {
        return await readFile(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async save(text) {
      if (!made) {
        await mkdir(dirname(path), { recursive: true });
        made = true;
      }
      await writeFileAtomic(path, text);
    },
  };
}

/**
 * `tally watch`: the log watcher writing through the ingest service into the embedded log of
 * the data dir it owns (the data-dir lock: not beside `tally start`), or into `<ns>.clicks` in
 * the distributed mode (its read positions stay in the data dir), optionally with the
 * aggregator running in the same process.
 */
export async function openWatch(
  config: Readonly<Config>,
  opts: OpenWatchOptions,
): Promise<WatchApp> {
  const metrics = createMetrics();
  const app = await openIngestTarget(config, {
    logger: opts.logger,
    metrics,
    aggregate: opts.aggregate === true,
  }).catch((e: unknown) => {
    const pid = isTallyError(e) ? e.details?.pid : undefined;
    if (typeof pid !== 'number') throw e;
    throw new TallyError(
      'TALLY_UNAVAILABLE',
      `the data dir ${dataPaths(config.dataDir).root} is owned by process ${pid} ` +
        '(a running `tally start`, `ingest` or `aggregate`): one process writes to a data dir. ' +
        'Stop it first, or watch into another --data-dir',
      { field: 'data-dir', details: { pid }, cause: e },
    );
  });
  try {
    const watcher = new LogWatcher({
      ...config.watch,
      patterns: opts.patterns,
      cwd: opts.cwd,
      sink: ingestSink(app.ingest),
      checkpoint: fileCheckpoint(watchCheckpointPath(config.dataDir)),
      clock: app.clock,
      logger: opts.logger,
      metrics,
      once: opts.once === true,
    });
    const status =
      opts.statusPort === undefined
        ? undefined
        : await serveStatus({
            host: config.http.host,
            port: opts.statusPort,
            registry: metrics.registry,
            status: () => watcher.status(),
          });
    if (opts.aggregate) app.startAggregator();
    await watcher.start();
    let closing: Promise<void> | undefined;
    return {
      watcher,
      statusUrl: status?.url,
      close() {
        closing ??= (async () => {
          try {
            await watcher.stop();
          } finally {
            await status?.close();
            await app.close();
          }
        })();
        return closing;
      },
    };
  } catch (e) {
    await app.close();
    throw e;
  }
}
