// A self-contained HTML report of a profile or a comparison: summary figures, an inline SVG bar chart of time per
// operator (both precisions side by side for a comparison), the per-operator table, time by op type and the
// precision report. No script, font, image or style sheet is fetched: the file opens offline, from disk or mail.

import * as path from 'node:path';
import { buildInfo } from '../native';
import type { Profile, ProfileReportRow } from '../profile';
import type { ComparisonRow, ProfileComparison } from './compare';
import { fmtCount, fmtMs, fmtShape, opsLabel } from './text';

export interface HtmlReportOptions {
  /** Page title (default: 'int8rt profile: <model>'). */
  title?: string;
  /** Rows in the chart, slowest first (default 30); the tables always list every row. */
  chartRows?: number;
}

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const COLORS = { a: '#5b7db1', b: '#e08a2c', slower: '#c0392b' };

const STYLE = `
:root { color-scheme: light; --ink: #1d2330; --muted: #5c6475; --line: #dde1e8; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; }
p.meta { color: var(--muted); margin: 0 0 18px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 150px; }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; overflow-x: auto; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; fill: var(--ink); }
svg .axis text, svg text.sub { fill: var(--muted); }
svg text.sub, svg text.val { font-size: 10px; }
svg text.slower { fill: #c0392b; font-weight: 600; }
.legend { display: flex; gap: 16px; margin: 6px 0 0 4px; color: var(--muted); font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.scroll { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; vertical-align: top; }
th { background: #eef1f5; position: sticky; top: 0; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; min-width: 220px; color: var(--muted); }
tr.slower td { background: #fdf0ee; }
tr.boundary td { background: #fbf6e9; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px; font-weight: 600; }
.p-int8 { background: #e5f4ea; color: #1e7a3c; } .p-fp32 { background: #eceff3; color: #4a5161; }
.p-fp16 { background: #e8effa; color: #2a5da8; } .p-other { background: #f3ecfa; color: #6a3aa0; }
footer { margin-top: 28px; color: var(--muted); font-size: 12px; }
`;

function badge(precision: string): string {
  const cls = ['int8', 'fp32', 'fp16'].includes(precision) ? `p-${precision}` : 'p-other';
  return `<span class="badge ${cls}">${esc(precision)}</span>`;
}

/** A round axis step (1, 2 or 5 times a power of ten) that gives about `ticks` ticks up to max. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

interface Bar {
  label: string;
  sub: string;
  values: (number | undefined)[];
  slower: boolean;
}

function barChart(bars: Bar[], series: string[]): string {
  const labelW = 300;
  const plotW = 560;
  const valueW = 70;
  const barH = 11;
  const gap = 9;
  const rowH = series.length * barH + gap;
  const top = 24;
  const height = top + bars.length * rowH + 8;
  const width = labelW + plotW + valueW;
  const max = Math.max(1e-9, ...bars.flatMap((b) => b.values.map((v) => v ?? 0)));
  const step = niceStep(max, 5);
  const axisMax = Math.ceil(max / step) * step;
  const x = (v: number) => labelW + (plotW * v) / axisMax;
  const out: string[] = [];
  out.push(
    `<svg id="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="time per operator">`,
  );
  out.push('<g class="axis">');
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  for (let k = 0; k * step <= axisMax + step / 2; k++) {
    const t = k * step;
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="${top - 6}" x2="${x(t).toFixed(1)}" y2="${height - 4}" stroke="#e3e6eb"/>`,
      `<text x="${x(t).toFixed(1)}" y="${top - 10}" text-anchor="middle">${t.toFixed(decimals)}</text>`,
    );
  }
  out.push(`<text x="${labelW - 24}" y="${top - 10}" text-anchor="end">ms per run</text>`, '</g>');
  bars.forEach((b, i) => {
    const y0 = top + i * rowH;
    const mid = y0 + (series.length * barH) / 2;
    out.push(`<g class="bar-row" data-node="${esc(b.label)}">`);
    out.push(
      `<text class="label${b.slower ? ' slower' : ''}" x="${labelW - 8}" y="${(mid - 1).toFixed(1)}" text-anchor="end">${esc(clipText(b.label, 42))}</text>`,
      `<text class="sub" x="${labelW - 8}" y="${(mid + 10).toFixed(1)}" text-anchor="end">${esc(clipText(b.sub, 48))}</text>`,
    );
    b.values.forEach((v, k) => {
      const y = y0 + k * barH;
      const color = k === 0 ? COLORS.a : COLORS.b;
      if (v === undefined) return;
      const w = Math.max(1, x(v) - labelW);
      out.push(
        `<rect class="bar s${k}" x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 1}" rx="2" fill="${color}"><title>${esc(
          `${b.label} ${series[k]}: ${fmtMs(v)} ms`,
        )}</title></rect>`,
        `<text class="val" x="${(labelW + w + 4).toFixed(1)}" y="${y + barH - 2}">${esc(fmtMs(v))}</text>`,
      );
    });
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n');
}

function clipText(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

function legend(series: string[]): string {
  return `<div class="legend">${series
    .map((s, k) => `<span><i style="background:${k === 0 ? COLORS.a : COLORS.b}"></i>${esc(s)}</span>`)
    .join('')}${series.length > 1 ? `<span style="color:${COLORS.slower}">red label: slower in ${esc(series[1])}</span>` : ''}</div>`;
}

function card(value: string, key: string): string {
  return `<div class="card"><div class="v">${esc(value)}</div><div class="k">${esc(key)}</div></div>`;
}

function table(id: string, header: string[], numeric: boolean[], rows: { cells: string[]; cls?: string }[]): string {
  const th = header.map((h, i) => `<th${numeric[i] ? ' class="n"' : ''}>${esc(h)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr${r.cls ? ` class="${r.cls}"` : ''}>${r.cells
          .map((c, i) => `<td${numeric[i] ? ' class="n"' : i === header.length - 1 ? ' class="wrap"' : ''}>${c}</td>`)
          .join('')}</tr>`,
    )
    .join('\n');
  return `<div class="scroll"><table id="${id}"><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

function precisionReport(report: ProfileReportRow[]): string {
  const counts = new Map<string, number>();
  for (const r of report) if (!r.boundary) counts.set(r.precision, (counts.get(r.precision) ?? 0) + 1);
  const summary = [...counts].map(([p, n]) => `${n} ${p}`).join(', ');
  const rows = report.map((r) => ({
    cls: r.boundary ? 'boundary' : undefined,
    cells: [
      esc(r.node),
      esc(r.op),
      badge(r.precision),
      esc(r.device),
      esc(r.kernel),
      esc(r.fusedInto ?? ''),
      esc([r.boundary ? 'inserted by int8rt' : '', r.note ?? '', r.reason ? `not int8: ${r.reason}` : ''].filter(Boolean).join('; ')),
    ],
  }));
  return (
    `<p class="meta">One row per ONNX node (${esc(summary)}), then the quantize/dequantize boundaries int8rt inserted.</p>` +
    table('precision-report', ['node', 'op', 'precision', 'device', 'kernel', 'fused into', 'note / reason'], [], rows)
  );
}

function byOpTable(groups: Map<string, number[]>, series: string[]): string {
  const rows = [...groups]
    .sort((x, y) => Math.max(...y[1]) - Math.max(...x[1]))
    .map(([op, v]) => ({
      cells: [
        esc(op),
        ...v.map((ms) => esc(fmtMs(ms))),
        ...(series.length > 1 ? [esc(v[0] > 0 && v[1] > 0 ? `${(v[0] / v[1]).toFixed(2)}x` : '')] : []),
      ],
      cls: series.length > 1 && v[1] > 1.05 * v[0] ? 'slower' : undefined,
    }));
  const header = ['op', ...series.map((s) => `${s} ms`), ...(series.length > 1 ? ['speedup'] : [])];
  return table('by-op', header, header.map((_, i) => i > 0), rows);
}

function machine(): string {
  try {
    const info = buildInfo();
    return `${info.cpu}, ISA ${info.isa}`;
  } catch {
    return 'unknown machine';
  }
}

function page(titleText: string, meta: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(titleText)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${esc(titleText)}</h1>
<p class="meta">${esc(meta)}</p>
${body}
<footer>Generated by int8rt on ${esc(new Date().toISOString())} (${esc(machine())}). A fused group is one row named
after the node that runs it. Self-contained: no network access needed.</footer>
</main>
</body>
</html>
`;
}

function metaLine(p: Profile): string {
  const m = p.meta;
  return (
    `${m.intraOpThreads} thread(s), ${m.iterations} timed run(s) after ${m.warmup} warm-up run(s); input ` +
    m.inputs.map((i) => `${i.name} ${fmtShape(i.dims)} ${i.dtype}`).join(', ')
  );
}

function modelName(p: Profile): string {
  return p.meta.model ? path.basename(p.meta.model) : 'model';
}

function profileHtml(p: Profile, options: HtmlReportOptions): string {
  const rows = p.slowest();
  const chart = barChart(
    rows.slice(0, options.chartRows ?? 30).map((r) => ({
      label: r.node,
      sub: `${opsLabel(r)} · ${r.precision}`,
      values: [r.meanMs],
      slower: false,
    })),
    [p.meta.precision],
  );
  const t = p.totals;
  const cards = [
    card(`${fmtMs(t.run.meanMs)} ms`, 'engine.run, mean'),
    card(`${fmtMs(t.operatorsMs)} ms`, `operators (${p.rows.length} rows)`),
    ...(t.macs > 0 ? [card(`${fmtCount(t.macs)}MAC`, `per run, ${((100 * t.int8Macs) / t.macs).toFixed(1)}% int8`)] : []),
    ...(t.gmacPerS !== undefined ? [card(t.gmacPerS.toFixed(1), 'GMAC/s')] : []),
  ];
  const opRows = rows.map((r) => ({
    cls: r.boundary ? 'boundary' : undefined,
    cells: [
      esc(r.node),
      esc(opsLabel(r)),
      badge(r.precision),
      esc(r.kernel),
      esc(r.calls),
      esc(fmtMs(r.meanMs)),
      esc(fmtMs(r.medianMs)),
      esc(fmtMs(r.p90Ms)),
      esc(`${(100 * r.share).toFixed(1)}%`),
      esc(r.macs > 0 ? fmtCount(r.macs) : ''),
      esc(r.gmacPerS !== undefined ? r.gmacPerS.toFixed(1) : ''),
      esc(fmtShape(r.inputShapes[0])),
      esc(fmtShape(r.outputShapes[0])),
      esc(r.boundary ? 'quantize/dequantize boundary inserted by int8rt' : r.nodes.join(', ')),
    ],
  }));
  const byOp = new Map<string, number[]>();
  for (const r of rows) byOp.set(r.op, [(byOp.get(r.op)?.[0] ?? 0) + r.meanMs]);
  const body = `
<section class="cards">${cards.join('')}</section>
<h2>Time per operator</h2>
<figure>${chart}${legend([p.meta.precision])}</figure>
<h2>Operators</h2>
${table(
  'operators',
  ['node', 'op', 'precision', 'kernel', 'calls', 'mean ms', 'median ms', 'p90 ms', 'share', 'MACs', 'GMAC/s', 'input', 'output', 'ONNX nodes'],
  [false, false, false, false, true, true, true, true, true, true, true, false, false, false],
  opRows,
)}
<h2>Time by op type</h2>
${byOpTable(byOp, [p.meta.precision])}
<h2>Precision report</h2>
${precisionReport(p.report)}`;
  return page(options.title ?? `int8rt profile: ${modelName(p)} (${p.meta.precision})`, metaLine(p), body);
}

function comparisonHtml(c: ProfileComparison, options: HtmlReportOptions): string {
  const [la, lb] = c.labels;
  const rows = c.slowest();
  const chart = barChart(
    rows.slice(0, options.chartRows ?? 30).map((r: ComparisonRow) => ({
      label: r.node,
      sub: `${r.boundary ? `${r.op} boundary` : opsLabel(r)} · ${r.b.precision}`,
      values: [r.a.rows.length ? r.a.ms : undefined, r.b.rows.length ? r.b.ms : undefined],
      slower: r.slower,
    })),
    [la, lb],
  );
  const t = c.totals;
  const [pa, pb] = c.profiles;
  const cards = [
    card(`${fmtMs(t.aRunMs)} ms`, `${la} engine.run, median`),
    card(`${fmtMs(t.bRunMs)} ms`, `${lb} engine.run, median`),
    card(`${t.runSpeedup.toFixed(2)}x`, `speedup of ${lb} over ${la}`),
    ...(t.boundaryMs > 0 ? [card(`${fmtMs(t.boundaryMs)} ms`, `${lb} quantize/dequantize`)] : []),
    ...(pb.totals.macs > 0
      ? [card(`${((100 * pb.totals.int8Macs) / pb.totals.macs).toFixed(1)}%`, `of ${fmtCount(pb.totals.macs)}MAC in int8`)]
      : []),
    card(String(c.slower().length), `rows slower in ${lb}`),
  ];
  const opRows = rows.map((r) => {
    const b = pb.rows.find((x) => x.node === r.b.rows[0]);
    return {
      cls: r.boundary ? 'boundary' : r.slower ? 'slower' : undefined,
      cells: [
        esc(r.node),
        esc(r.boundary ? `${r.op} (boundary)` : opsLabel(r)),
        esc(r.a.rows.length ? fmtMs(r.a.ms) : '-'),
        esc(r.b.rows.length ? fmtMs(r.b.ms) : '-'),
        esc(r.speedup !== undefined ? `${r.speedup.toFixed(2)}x` : ''),
        esc(`${r.deltaMs >= 0 ? '+' : ''}${fmtMs(r.deltaMs)}`),
        r.b.precision ? r.b.precision.split('+').map(badge).join(' ') : '',
        esc(r.b.kernel),
        esc(r.b.macs > 0 ? fmtCount(r.b.macs) : ''),
        esc(b?.gmacPerS !== undefined && r.b.rows.length === 1 ? b.gmacPerS.toFixed(1) : ''),
        esc(fmtShape(b?.outputShapes[0])),
        esc(r.boundary ? 'quantize/dequantize boundary inserted by int8rt' : r.nodes.join(', ')),
      ],
    };
  });
  const byOp = new Map<string, number[]>();
  for (const r of rows) {
    const key = r.boundary ? `${r.op} (boundary)` : r.op;
    const v = byOp.get(key) ?? [0, 0];
    byOp.set(key, [v[0] + r.a.ms, v[1] + r.b.ms]);
  }
  const body = `
<section class="cards">${cards.join('')}</section>
<h2>Time per operator: ${esc(la)} against ${esc(lb)}</h2>
<figure>${chart}${legend([la, lb])}</figure>
<h2>Operators</h2>
<p class="meta">Rows group the ONNX nodes each engine runs together; times are medians over the timed runs.
${esc(la)} operators ${esc(fmtMs(t.aMs))} ms, ${esc(lb)} operators ${esc(fmtMs(t.bMs))} ms per run
(${esc(t.speedup.toFixed(2))}x); highlighted rows are at least 5% slower in ${esc(lb)}.</p>
${table(
  'operators',
  ['node', 'op', `${la} ms`, `${lb} ms`, 'speedup', 'delta ms', `${lb} precision`, `${lb} kernel`, 'MACs', 'GMAC/s', 'output', 'ONNX nodes'],
  [false, false, true, true, true, true, false, false, true, true, false, false],
  opRows,
)}
<h2>Time by op type</h2>
${byOpTable(byOp, [la, lb])}
<h2>Precision report (${esc(lb)})</h2>
${precisionReport(pb.report)}`;
  return page(options.title ?? `int8rt profile: ${modelName(pa)}, ${la} against ${lb}`, metaLine(pa), body);
}

/** The report as one HTML document (a string: write it to a .html file). */
export function htmlReport(p: Profile | ProfileComparison, options: HtmlReportOptions = {}): string {
  return p.kind === 'comparison' ? comparisonHtml(p, options) : profileHtml(p, options);
}
