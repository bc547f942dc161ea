import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openEmbedded, type EmbeddedApp } from '../../src/app/embedded.js';
import { loadConfig, type Config, type DeepPartial } from '../../src/config/index.js';
import { ClickGenerator, type GenerateOptions } from '../../src/core/generate/generate.js';
import { httpDepsFromEmbedded } from '../../src/app/http.js';
import { buildHttpServer } from '../../src/services/http/server.js';
import { silentLogger } from '../../src/services/observability/logger.js';
import { createMetrics } from '../../src/services/observability/metrics.js';

export const MINUTE = 60_000;
export const floorMinute = (t: number) => Math.floor(t / MINUTE) * MINUTE;

export interface LiveServer {
  app: EmbeddedApp;
  server: FastifyInstance;
  base: string;
  close(): Promise<void>;
}

/**
 * A real embedded app with its aggregator running, behind the HTTP server on a loopback
 * port chosen by the OS. Small idle timeout and commit interval: once the posting stops, the
 * wall-clock watermark closes every minute within seconds.
 */
export async function startLiveServer(overrides: DeepPartial<Config> = {}): Promise<LiveServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tally-e2e-'));
  const config = loadConfig({
    env: {},
    overrides: {
      log: { partitions: 4 },
      ...overrides,
      aggregation: {
        idleTimeoutMs: 2_000,
        commitIntervalMs: 100,
        // events from half an hour ago arrive after the wall-clock watermark has passed them:
        // they must still correct their minutes, not be set aside as late
        allowedLatenessMs: 3_600_000,
        ...overrides.aggregation,
      },
      dataDir,
    },
  });
  const app = await openEmbedded(config, {
    logger: silentLogger(),
    metrics: createMetrics({ defaults: false }),
  });
  app.runner.start();
  const server = buildHttpServer(httpDepsFromEmbedded(app), {
    bodyLimitBytes: config.http.bodyLimitBytes,
    logger: silentLogger(),
  });
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    server,
    base: address,
    async close() {
      await server.close();
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** One generated line and what the oracle needs of it. */
export interface GeneratedLine {
  line: string;
  kind: 'valid' | 'duplicate' | 'late' | 'invalid';
  adId?: string;
  minute?: number;
  country?: string;
}

function eventTime(v: Record<string, unknown>): number {
  const t = v['timestamp'] ?? v['click_timestamp'];
  return typeof t === 'number' ? t : Date.parse(String(t));
}

/** Generated traffic with each line's kind; valid lines carry ad, minute and country. */
export function generateTraffic(opts: GenerateOptions): GeneratedLine[] {
  const gen = new ClickGenerator(opts);
  const out: GeneratedLine[] = [];
  for (let i = 0; i < opts.count; i++) {
    const line = gen.next();
    const kind = gen.kind;
    if (kind !== 'valid') {
      out.push({ line, kind });
      continue;
    }
    const v = JSON.parse(line) as Record<string, unknown>;
    const country = typeof v['country'] === 'string' ? v['country'].toUpperCase() : undefined;
    out.push({
      line,
      kind,
      adId: String(v['ad_id']),
      minute: floorMinute(eventTime(v)),
      ...(country === undefined ? {} : { country }),
    });
  }
  return out;
}

/** Exact answers computed from the generated lines: each distinct valid event once. */
export class Oracle {
  /** ad → minute → country ('' = none) → count */
  private readonly counts = new Map<string, Map<number, Map<string, number>>>();
  readonly ads: string[];
  readonly firstMinute: number;
  readonly lastMinute: number;

  constructor(lines: readonly GeneratedLine[]) {
    let first = Infinity;
    let last = -Infinity;
    for (const l of lines) {
      if (l.kind !== 'valid') continue;
      const byMinute = this.counts.get(l.adId!) ?? new Map<number, Map<string, number>>();
      this.counts.set(l.adId!, byMinute);
      const byCountry = byMinute.get(l.minute!) ?? new Map<string, number>();
      byMinute.set(l.minute!, byCountry);
      const c = l.country ?? '';
      byCountry.set(c, (byCountry.get(c) ?? 0) + 1);
      first = Math.min(first, l.minute!);
      last = Math.max(last, l.minute!);
    }
    this.ads = [...this.counts.keys()].sort();
    this.firstMinute = first;
    this.lastMinute = last;
  }

  count(ad: string, from: number, to: number, countries?: readonly string[]): number {
    let n = 0;
    for (const [minute, byCountry] of this.counts.get(ad) ?? []) {
      if (minute < from || minute >= to) continue;
      for (const [c, k] of byCountry) if (!countries || countries.includes(c)) n += k;
    }
    return n;
  }

  top(from: number, to: number, n: number, countries?: readonly string[]) {
    return this.ads
      .map((ad) => ({ ad_id: ad, count: this.count(ad, from, to, countries) }))
      .filter((a) => a.count > 0)
      .sort((a, b) => b.count - a.count || (a.ad_id < b.ad_id ? -1 : 1))
      .slice(0, n);
  }
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${url} → ${res.status}: ${body}`);
  return JSON.parse(body) as T;
}

export interface StatusLike {
  lag: number;
  watermark: string | null;
  totals: {
    appended: number;
    events: number;
    duplicates: number;
    late: number;
    dead_letters: number;
  };
}

/** Polls /v1/status until the aggregator has consumed everything and closed `minuteEnd`. */
export async function waitUntilClosed(base: string, minuteEnd: number, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await getJson<StatusLike>(`${base}/v1/status`);
    if (s.lag === 0 && s.watermark !== null && Date.parse(s.watermark) >= minuteEnd) return s;
    if (Date.now() > deadline) throw new Error(`not closed in time: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function postNdjson(base: string, lines: readonly string[]) {
  const res = await fetch(`${base}/v1/clicks`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: lines.join('\n') + '\n',
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
