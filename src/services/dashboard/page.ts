import { createHash } from 'node:crypto';
import { DASHBOARD_JS } from './client.js';
import { DASHBOARD_CSS } from './styles.js';

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * A strict CSP: only this page's own inline script and style (by hash) run, and they may only
 * talk to this origin.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(DASHBOARD_JS)}`,
  `style-src ${sha256(DASHBOARD_CSS)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const tile = (id: string, label: string) => `
      <div class="tile" id="${id}-tile">
        <div class="label">${label}</div>
        <div class="value" id="${id}">—</div>
        <div class="sub" id="${id}-sub"></div>
      </div>`;

/** The dashboard (GET /): one self-contained HTML document. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Tally — ad clicks</title>
  <link rel="icon" href="data:,">
  <style>${DASHBOARD_CSS}</style>
</head>
<body>
  <header>
    <h1>Tally <span>ad clicks</span></h1>
    <span class="pill"><span class="dot" id="health-dot"></span><span id="health-text">connecting…</span></span>
    <span class="spacer"></span>
    <span class="pill" id="updated">not updated yet</span>
    <button id="pause" type="button">Pause</button>
  </header>
  <main>
    <div class="errors" id="errors" aria-live="polite"></div>
    <section class="tiles">${tile('tile-rate', 'Ingested, events/s')}${tile('tile-watermark', 'Watermark')}${tile(
      'tile-lag',
      'Aggregator lag, records',
    )}${tile('tile-events', 'Events counted')}${tile('tile-late', 'Late events')}${tile(
      'tile-duplicates',
      'Duplicates',
    )}${tile('tile-deadletters', 'Dead letters')}
    </section>
    <section class="grid">
      <div class="card">
        <h2>Top ads</h2>
        <div class="controls">
          <span class="seg" id="window-seg" role="group" aria-label="window">
            <button type="button" data-window="1" class="on">1 min</button>
            <button type="button" data-window="5">5 min</button>
            <button type="button" data-window="60">60 min</button>
          </span>
          <label>Country <input id="filter" size="12" placeholder="all, or US,CA" autocomplete="off"></label>
          <label>Show
            <select id="count"><option>10</option><option selected>25</option><option>100</option></select>
          </label>
        </div>
        <div class="caption" id="top-caption">&nbsp;</div>
        <table id="top-table">
          <thead><tr><th>#</th><th>Ad</th><th class="num">Clicks</th><th>Share of top</th></tr></thead>
          <tbody id="top-body"><tr><td class="empty" colspan="4">Loading…</td></tr></tbody>
        </table>
      </div>
      <div class="card">
        <div class="controls">
          <h2 id="chart-title">Clicks per minute</h2>
          <span class="spacer"></span>
          <label>Range
            <select id="chart-range"><option value="60" selected>60 min</option><option value="180">3 h</option><option value="720">12 h</option></select>
          </label>
        </div>
        <div class="chart-summary" id="chart-summary"></div>
        <div id="chart"><div class="empty">Click an ad in the table to chart its clicks per minute.</div></div>
      </div>
    </section>
    <footer>
      <a href="/v1/status">/v1/status</a><a href="/openapi.json">/openapi.json</a><a href="/metrics">/metrics</a>
      Minutes are UTC; counts appear once the watermark closes their minute. Refreshes every 3 s.
    </footer>
  </main>
  <script>${DASHBOARD_JS}</script>
</body>
</html>
`;
