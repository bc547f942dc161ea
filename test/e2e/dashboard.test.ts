import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Page } from 'playwright-core';
import {
  MINUTE,
  Oracle,
  floorMinute,
  generateTraffic,
  postNdjson,
  waitUntilClosed,
  startLiveServer,
} from './http-support.js';

const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOT = '/tmp/tally-dashboard.png';

interface Row {
  ad_id: string;
  count: number;
}

/** The top table as the user sees it (locators only: the test compiles without DOM types). */
async function tableRows(page: Page): Promise<Row[]> {
  const rows = page.locator('#top-body tr[data-ad-id]');
  const out: Row[] = [];
  for (let i = 0, n = await rows.count(); i < n; i++) {
    const row = rows.nth(i);
    out.push({
      ad_id: (await row.getAttribute('data-ad-id')) ?? '',
      count: Number(((await row.locator('td').nth(2).textContent()) ?? '').replace(/,/g, '')),
    });
  }
  return out;
}

/** Waits until the table shows `expected` (the page refreshes on its own: poll, then compare). */
async function expectTable(page: Page, expected: Row[], caption: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let rows: Row[] = [];
  while (Date.now() < deadline) {
    const text = (await page.textContent('#top-caption')) ?? '';
    rows = await tableRows(page);
    if (text.includes(caption) && JSON.stringify(rows) === JSON.stringify(expected)) return;
    await sleep(200);
  }
  assert.deepEqual(rows, expected, `table with caption "${caption}"`);
}

test(
  'dashboard: top ads per window and filter, chart of a clicked ad, errors shown, status tiles',
  {
    skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install -y chromium)`,
    timeout: 180_000,
  },
  async () => {
    const s = await startLiveServer();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const lines = generateTraffic({
        seed: 99,
        count: 12_000,
        startTime: floorMinute(Date.now()) - 25 * MINUTE,
        ads: 60,
        eventsPerSecond: 20, // 10 minutes of event time, well inside the 60-minute window
        lateRate: 0,
      });
      const oracle = new Oracle(lines);
      for (let i = 0; i < lines.length; i += 1000) {
        const r = await postNdjson(
          s.base,
          lines.slice(i, i + 1000).map((l) => l.line),
        );
        assert.equal(r.status, 200);
      }
      await waitUntilClosed(s.base, oracle.lastMinute + MINUTE);

      const page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => {
        // the 400 the test provokes on purpose is logged by the browser; anything else counts
        if (m.type() === 'error' && !/status of 400/.test(m.text())) {
          problems.push(`console: ${m.text()}`);
        }
      });
      await page.goto(`${s.base}/`);
      await page.waitForFunction("document.getElementById('tile-events').textContent !== '—'");
      const eventsTile = await page.textContent('#tile-events');
      const valid = lines.filter((l) => l.kind === 'valid').length;
      assert.equal(Number(eventsTile?.replace(/,/g, '')), valid);
      const dead = await page.textContent('#tile-deadletters');
      assert.equal(
        Number(dead?.replace(/,/g, '')),
        lines.filter((l) => l.kind === 'invalid').length,
      );

      // the last 60 minutes hold all the data: the table is the oracle's top 25
      await page.click('#window-seg button[data-window="60"]');
      const all = oracle.top(oracle.firstMinute, oracle.lastMinute + MINUTE, 25);
      await expectTable(page, all, '(60 min) · all traffic');

      // a country filter
      await page.fill('#filter', 'US');
      const us = oracle.top(oracle.firstMinute, oracle.lastMinute + MINUTE, 25, ['US']);
      await expectTable(page, us, 'filter country=US');

      // API errors are shown in the page, not swallowed
      await page.fill('#filter', 'colour=red');
      await page.waitForSelector('#errors .error');
      const banner = await page.textContent('#errors');
      assert.match(banner ?? '', /popular_ads: filter: unknown attribute "colour"/);
      assert.match(banner ?? '', /TALLY_BAD_PARAMETER/);
      await page.fill('#filter', '');
      await page.locator('#errors .error').waitFor({ state: 'detached' });
      await expectTable(page, all, 'all traffic');

      // clicking an ad charts its clicks per minute
      const second = all[1]!;
      await page.click(`#top-body tr[data-ad-id="${second.ad_id}"]`);
      await page.locator('#chart svg').waitFor();
      assert.equal(await page.locator('#chart svg rect.bar').count(), 60);
      assert.match((await page.textContent('#chart-title')) ?? '', new RegExp(second.ad_id));
      const summary = (await page.textContent('#chart-summary')) ?? '';
      assert.ok(summary.startsWith(`${second.count.toLocaleString('en-US')} clicks`), summary);
      const selected = await page.locator('#top-body tr.selected').getAttribute('data-ad-id');
      assert.equal(selected, second.ad_id);

      // live traffic moves the ingest-rate tile
      for (let b = 0; b < 6; b++) {
        const now = Date.now();
        const live = Array.from({ length: 200 }, (_, i) =>
          JSON.stringify({
            ad_id: `ad-${1 + (i % 5)}`,
            timestamp: now - i,
            event_id: `live-${b}-${i}`,
          }),
        );
        assert.equal((await postNdjson(s.base, live)).status, 200);
        await sleep(500);
      }
      await page.waitForFunction(
        "Number(document.getElementById('tile-rate').textContent.replace(/,/g, '')) > 0",
      );

      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      assert.deepEqual(problems, [], 'no script errors, no CSP violations');
    } finally {
      await browser.close();
      await s.close();
    }
  },
);
