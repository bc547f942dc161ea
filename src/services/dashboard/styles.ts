/** The dashboard's stylesheet, inlined in the page: no CDN, no build step. */
export const DASHBOARD_CSS = `
:root {
  --bg: #f4f6f9; --card: #ffffff; --ink: #1b2430; --muted: #5b6675; --line: #dde3ea;
  --accent: #2f6fde; --accent-soft: #e3ecfb; --bar: #4c86e8; --ok: #1f9d55; --warn: #c77c02;
  --bad: #c62f2f; --bad-soft: #fdecec;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
}
header {
  display: flex; align-items: center; gap: 16px; padding: 12px 24px;
  background: var(--card); border-bottom: 1px solid var(--line);
}
header h1 { margin: 0; font-size: 18px; letter-spacing: .2px; }
header h1 span { color: var(--muted); font-weight: 400; }
.spacer { flex: 1; }
.pill {
  display: inline-flex; align-items: center; gap: 6px; padding: 3px 10px; border-radius: 999px;
  background: var(--bg); color: var(--muted); font-size: 12px; border: 1px solid var(--line);
}
.dot { width: 8px; height: 8px; border-radius: 50%; background: var(--muted); }
.dot.ok { background: var(--ok); } .dot.warn { background: var(--warn); } .dot.bad { background: var(--bad); }
button, select, input {
  font: inherit; color: inherit; border: 1px solid var(--line); border-radius: 6px;
  background: var(--card); padding: 5px 10px;
}
button { cursor: pointer; }
button:hover { border-color: var(--accent); }
main { padding: 16px 24px 32px; max-width: 1400px; margin: 0 auto; }
.errors { margin-bottom: 14px; }
.error {
  background: var(--bad-soft); color: var(--bad); border: 1px solid #f3c1c1; border-radius: 8px;
  padding: 8px 12px; margin-bottom: 6px;
}
.error code { font-size: 12px; color: #8b2020; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin-bottom: 16px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; }
.tile .value { font-size: 24px; font-weight: 600; margin-top: 2px; font-variant-numeric: tabular-nums; }
.tile .sub { color: var(--muted); font-size: 12px; min-height: 17px; }
.grid { display: grid; grid-template-columns: minmax(380px, 5fr) 7fr; gap: 16px; align-items: start; }
@media (max-width: 980px) { .grid { grid-template-columns: 1fr; } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
.card h2 { margin: 0 0 10px; font-size: 15px; }
.controls h2 { margin: 0; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-bottom: 10px; }
.controls label { color: var(--muted); font-size: 12px; display: inline-flex; gap: 6px; align-items: center; }
.seg { display: inline-flex; }
.seg button { border-radius: 0; margin-left: -1px; }
.seg button:first-child { border-radius: 6px 0 0 6px; margin-left: 0; }
.seg button:last-child { border-radius: 0 6px 6px 0; }
.seg button.on { background: var(--accent); border-color: var(--accent); color: #fff; position: relative; }
.caption { color: var(--muted); font-size: 12px; margin-bottom: 6px; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th { text-align: left; color: var(--muted); font-weight: 500; font-size: 12px; border-bottom: 1px solid var(--line); padding: 6px 8px; }
td { padding: 6px 8px; border-bottom: 1px solid #eef1f5; }
td.num, th.num { text-align: right; }
td.rank { color: var(--muted); width: 36px; }
td.ad { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #f7f9fc; }
tbody tr.selected { background: var(--accent-soft); }
.share { width: 34%; }
.share div { height: 8px; border-radius: 4px; background: var(--bar); min-width: 2px; }
.empty { color: var(--muted); padding: 24px 8px; text-align: center; }
#chart svg { width: 100%; height: auto; display: block; }
#chart .axis text { fill: var(--muted); font-size: 11px; }
#chart .grid line { stroke: #e9edf2; }
#chart .bar { fill: var(--bar); }
#chart .bar:hover { fill: var(--accent); }
.chart-summary { color: var(--muted); font-size: 12px; margin-bottom: 6px; min-height: 17px; }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
footer a { color: var(--accent); text-decoration: none; margin-right: 14px; }
`;
