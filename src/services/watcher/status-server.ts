/**
 * `tally watch --status-port`: a small HTTP endpoint for a daemon that has no API of its own.
 * GET /metrics (Prometheus text), GET /status (the watcher's JSON status), GET /healthz.
 * node:http, not the API server's stack: three read-only routes need no framework.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface StatusServer {
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

export async function serveStatus(opts: {
  host: string;
  port: number;
  registry: Registry;
  status: () => unknown;
}): Promise<StatusServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const routes: Record<string, () => Promise<[string, string]>> = {
      '/metrics': async () => [opts.registry.contentType, await opts.registry.metrics()],
      '/status': async () => ['application/json', JSON.stringify(opts.status()) + '\n'],
      '/healthz': async () => ['application/json', '{"status":"ok"}\n'],
    };
    const route = path === undefined ? undefined : routes[path];
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `no route ${path}: try /metrics, /status, /healthz` }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `${req.method} is not allowed here` }));
      return;
    }
    const [type, body] = await route();
    res.writeHead(200, { 'content-type': type });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
