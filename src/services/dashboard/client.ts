/**
 * The dashboard's browser script, inlined in the page (no CDN, no bundler). Plain ES2020
 * kept free of backticks and dollar-brace so it can live in this template literal. It only
 * reads the public API; every value from the API goes into the DOM as text, never as HTML.
 * (The one interpolation below is this module's, not the script's: the length of a minute.)
 */
import { MINUTE_MS } from '../../core/window/minute.js';

export const DASHBOARD_JS = `
(function () {
  'use strict';
  var REFRESH_MS = 3000;
  var MINUTE = ${MINUTE_MS};
  var SVG = 'http://www.w3.org/2000/svg';
  var state = {
    window: 1, count: 25, filterText: '', selected: null, paused: false, chartMinutes: 60,
    closedUpTo: null, namedFilters: {}, prev: null, busy: false, errors: {}
  };

  function $(id) { return document.getElementById(id); }
  function fmt(n) { return typeof n === 'number' ? n.toLocaleString('en-US') : '—'; }
  function hhmm(iso) { return iso ? iso.slice(11, 16) : '—'; }
  function hhmmss(iso) { return iso ? iso.slice(11, 19) : '—'; }
  function setText(id, text) { var el = $(id); if (el) el.textContent = text; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  // ---- API access: errors are shown in the page, never swallowed ----
  async function api(path) {
    var res;
    try {
      res = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } });
    } catch (e) {
      throw { message: 'the server cannot be reached (' + (e && e.message ? e.message : e) + ')', code: 'NETWORK', path: path };
    }
    var text = await res.text();
    var body = null;
    try { body = JSON.parse(text); } catch (e) { body = null; }
    if (!res.ok) {
      throw {
        message: body && body.error ? body.error : 'HTTP ' + res.status,
        code: body && body.code ? body.code : 'HTTP_' + res.status,
        path: path
      };
    }
    return body;
  }
  function report(source, err) {
    if (err) state.errors[source] = err; else delete state.errors[source];
    var box = $('errors');
    box.replaceChildren();
    Object.keys(state.errors).forEach(function (k) {
      var e = state.errors[k];
      var div = el('div', 'error');
      div.setAttribute('role', 'alert');
      div.dataset.source = k;
      div.appendChild(el('strong', '', k + ': '));
      div.appendChild(document.createTextNode(e.message + ' '));
      div.appendChild(el('code', '', e.code || ''));
      box.appendChild(div);
    });
  }

  function filterParam() {
    var t = state.filterText.trim();
    if (!t) return '';
    if (t.indexOf('=') >= 0 || Object.prototype.hasOwnProperty.call(state.namedFilters, t)) return t;
    return 'country=' + t.replace(/\\s+/g, '');
  }
  function withFilter(params) {
    var f = filterParam();
    if (f) params.set('filter', f);
    return params;
  }

  // ---- status tiles ----
  async function refreshStatus() {
    var s;
    try { s = await api('/v1/status'); report('status', null); } catch (e) { report('status', e); return; }
    state.closedUpTo = s.closed_up_to;
    state.namedFilters = (s.config && s.config.filters) || {};
    var now = Date.parse(s.now);
    if (state.prev && now > state.prev.t) {
      var rate = (s.totals.appended - state.prev.appended) / ((now - state.prev.t) / 1000);
      setText('tile-rate', fmt(Math.max(0, Math.round(rate))));
    }
    state.prev = { t: now, appended: s.totals.appended };
    setText('tile-rate-sub', fmt(s.totals.appended) + ' appended in all');
    if (s.watermark) {
      setText('tile-watermark', hhmmss(s.watermark));
      var behind = Math.max(0, Math.round((now - Date.parse(s.watermark)) / 1000));
      setText('tile-watermark-sub', behind + ' s behind the clock (UTC)');
    } else {
      setText('tile-watermark', '—');
      setText('tile-watermark-sub', 'no events yet');
    }
    var idle = s.partitions.filter(function (p) { return p.idle; }).length;
    setText('tile-lag', fmt(s.lag));
    setText('tile-lag-sub', s.partitions.length + ' partitions, ' + idle + ' idle');
    setText('tile-events', fmt(s.totals.events));
    setText('tile-late', fmt(s.totals.late));
    setText('tile-duplicates', fmt(s.totals.duplicates));
    setText('tile-deadletters', fmt(s.totals.dead_letters));
    var dot = $('health-dot');
    dot.className = 'dot ' + (s.lag > 100000 ? 'warn' : 'ok');
    setText('health-text', 'up ' + Math.round(s.uptime_seconds) + ' s');
  }

  // ---- top ads ----
  async function refreshTop() {
    var q = withFilter(new URLSearchParams({ count: String(state.count), window: String(state.window) }));
    var r;
    try { r = await api('/v1/ads/popular_ads?' + q.toString()); report('popular_ads', null); } catch (e) { report('popular_ads', e); return; }
    var from = new Date(Date.parse(r.to) - r.window * MINUTE).toISOString();
    setText('top-caption', 'Minutes ' + hhmm(from) + '–' + hhmm(r.to) + ' UTC (' + r.window + ' min)' +
      (filterParam() ? ' · filter ' + filterParam() : ' · all traffic'));
    var body = $('top-body');
    body.replaceChildren();
    if (r.ads.length === 0) {
      var tr = el('tr');
      var td = el('td', 'empty', 'No clicks in this window yet.');
      td.colSpan = 4;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    var max = r.ads[0].count || 1;
    r.ads.forEach(function (a, i) {
      var row = el('tr');
      row.dataset.adId = a.ad_id;
      row.tabIndex = 0;
      if (a.ad_id === state.selected) row.className = 'selected';
      row.appendChild(el('td', 'rank', String(i + 1)));
      row.appendChild(el('td', 'ad', a.ad_id));
      row.appendChild(el('td', 'num', fmt(a.count)));
      var share = el('td', 'share');
      var bar = el('div');
      bar.style.width = Math.max(1, Math.round((a.count / max) * 100)) + '%';
      share.appendChild(bar);
      row.appendChild(share);
      row.addEventListener('click', function () { select(a.ad_id); });
      row.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') select(a.ad_id); });
      body.appendChild(row);
    });
  }

  function select(adId) {
    state.selected = adId;
    Array.prototype.forEach.call(document.querySelectorAll('#top-body tr'), function (tr) {
      tr.classList.toggle('selected', tr.dataset.adId === adId);
    });
    refreshChart();
  }

  // ---- per-minute chart (inline SVG) ----
  function niceStep(max) {
    var raw = max / 4;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function drawChart(points) {
    var W = 760, H = 280, L = 52, R = 12, T = 12, B = 30;
    var s = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'clicks per minute' });
    var max = points.reduce(function (m, p) { return Math.max(m, p.count); }, 0);
    var step = max > 0 ? Math.max(1, niceStep(max)) : 1;
    var top = Math.max(step, Math.ceil(max / step) * step);
    var y = function (v) { return T + (H - T - B) * (1 - v / top); };
    var grid = svg('g', { class: 'grid' });
    var axis = svg('g', { class: 'axis' });
    for (var v = 0; v <= top + 1e-9; v += step) {
      grid.appendChild(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      var t = svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' });
      t.textContent = fmt(v);
      axis.appendChild(t);
    }
    s.appendChild(grid);
    var n = Math.max(1, points.length);
    var bw = (W - L - R) / n;
    var labelEvery = n <= 60 ? 10 : n <= 180 ? 30 : 60;
    points.forEach(function (p, i) {
      var x = L + i * bw;
      var h = Math.max(p.count > 0 ? 1 : 0, (H - T - B) * (p.count / top));
      var rect = svg('rect', { class: 'bar', x: x + bw * 0.12, y: H - B - h, width: Math.max(1, bw * 0.76), height: h });
      var title = svg('title', {});
      title.textContent = hhmm(p.minute) + ' UTC: ' + fmt(p.count) + ' clicks';
      rect.appendChild(title);
      s.appendChild(rect);
      var minuteOfHour = Number(p.minute.slice(14, 16)) + 60 * Number(p.minute.slice(11, 13));
      if (minuteOfHour % labelEvery === 0) {
        var lt = svg('text', { x: x + bw / 2, y: H - 10, 'text-anchor': 'middle' });
        lt.textContent = hhmm(p.minute);
        axis.appendChild(lt);
      }
    });
    axis.appendChild(svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#b8c2cf' }));
    s.appendChild(axis);
    return s;
  }

  async function refreshChart() {
    var box = $('chart');
    if (!state.selected) return;
    setText('chart-title', 'Clicks per minute — ' + state.selected);
    var to = state.closedUpTo ? Date.parse(state.closedUpTo) : Math.floor(Date.now() / MINUTE) * MINUTE;
    var q = withFilter(new URLSearchParams({
      from: new Date(to - state.chartMinutes * MINUTE).toISOString(),
      to: new Date(to).toISOString()
    }));
    var r;
    try {
      r = await api('/v1/ads/' + encodeURIComponent(state.selected) + '/timeseries?' + q.toString());
      report('timeseries', null);
    } catch (e) { report('timeseries', e); return; }
    var peak = r.points.reduce(function (m, p) { return p.count > m.count ? p : m; }, { count: 0, minute: null });
    setText('chart-summary', fmt(r.count) + ' clicks from ' + hhmm(r.from) + ' to ' + hhmm(r.to) + ' UTC' +
      (peak.minute ? ' · peak ' + fmt(peak.count) + ' at ' + hhmm(peak.minute) : '') +
      (filterParam() ? ' · filter ' + filterParam() : ''));
    box.replaceChildren(drawChart(r.points));
  }

  // ---- refresh loop ----
  async function tick() {
    if (state.busy || state.paused) return;
    state.busy = true;
    try {
      await refreshStatus();
      await Promise.all([refreshTop(), refreshChart()]);
      setText('updated', 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC');
    } finally {
      state.busy = false;
    }
  }
  function rerender() { refreshTop(); refreshChart(); }

  function wire() {
    Array.prototype.forEach.call(document.querySelectorAll('#window-seg button'), function (b) {
      b.addEventListener('click', function () {
        state.window = Number(b.dataset.window);
        Array.prototype.forEach.call(document.querySelectorAll('#window-seg button'), function (o) {
          o.classList.toggle('on', o === b);
        });
        rerender();
      });
    });
    $('count').addEventListener('change', function () { state.count = Number($('count').value); rerender(); });
    $('chart-range').addEventListener('change', function () { state.chartMinutes = Number($('chart-range').value); refreshChart(); });
    var debounce = null;
    $('filter').addEventListener('input', function () {
      clearTimeout(debounce);
      debounce = setTimeout(function () { state.filterText = $('filter').value; rerender(); }, 400);
    });
    $('pause').addEventListener('click', function () {
      state.paused = !state.paused;
      $('pause').textContent = state.paused ? 'Resume' : 'Pause';
      if (!state.paused) tick();
    });
  }

  wire();
  tick();
  setInterval(tick, REFRESH_MS);
})();
`;
