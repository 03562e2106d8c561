// Plain-text tables of profiles and comparisons, slowest first, with totals (what `int8rt profile` prints, in the
// spirit of trtexec's --dumpProfile).

import * as path from 'node:path';
import type { Profile, ProfileRow } from '../profile';
import type { ComparisonRow, ProfileComparison } from './compare';

export interface TableOptions {
  /** Rows to print (default: all). */
  top?: number;
}

/** Milliseconds with about four significant digits. */
export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 100) return x.toFixed(1);
  if (x >= 10) return x.toFixed(2);
  if (x >= 1) return x.toFixed(3);
  return x.toFixed(4);
}

export function fmtShape(s: readonly number[] | null | undefined): string {
  return s ? s.join('x') || 'scalar' : '-';
}

export function fmtCount(x: number): string {
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)} G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return String(x);
}

/** 'Conv+Add+Relu' for a fused group, the op for a single node or a boundary. */
export function opsLabel(r: { op: string; ops: readonly string[] }): string {
  return r.ops.length > 1 ? r.ops.join('+') : r.op;
}

function clip(s: string, width: number): string {
  return s.length <= width ? s : s.slice(0, width - 1) + '…';
}

/** Left-aligned text columns, right-aligned numeric ones (`right[i]`), two spaces apart, a rule under the header. */
export function renderTable(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function title(p: Profile): string {
  const m = p.meta;
  const model = m.model ? path.basename(m.model) : 'model';
  const inputs = m.inputs.map((i) => `${i.name} ${fmtShape(i.dims)}`).join(', ');
  return (
    `${model}: ${m.precision}, ${m.intraOpThreads} thread(s), ${m.iterations} timed run(s) after ${m.warmup} ` +
    `warm-up run(s); input ${inputs}`
  );
}

function more(shown: number, total: number): string[] {
  return shown < total ? [`... ${total - shown} more row(s) (--top 0 prints all)`] : [];
}

/** The per-operator table of one profile, slowest first, then totals. */
export function formatProfile(p: Profile, options: TableOptions = {}): string {
  const all = p.slowest();
  const rows = options.top ? all.slice(0, options.top) : all;
  const cells = rows.map((r: ProfileRow) => [
    r.node,
    opsLabel(r),
    r.precision,
    r.kernel,
    String(r.calls),
    fmtMs(r.meanMs),
    fmtMs(r.medianMs),
    fmtMs(r.p90Ms),
    `${(100 * r.share).toFixed(1)}%`,
    r.macs > 0 ? fmtCount(r.macs) : '',
    r.gmacPerS !== undefined ? r.gmacPerS.toFixed(1) : '',
    fmtShape(r.outputShapes[0]),
  ]);
  const t = p.totals;
  const lines = [
    title(p),
    '',
    renderTable(
      ['node', 'op', 'precision', 'kernel', 'calls', 'mean ms', 'median ms', 'p90 ms', 'share', 'MACs', 'GMAC/s', 'output'],
      cells,
      [false, false, false, false, true, true, true, true, true, true, true, false],
    ),
    ...more(rows.length, all.length),
    '',
    `operators: ${fmtMs(t.operatorsMs)} ms per run (sum of ${p.rows.length} row means)`,
    `engine.run: mean ${fmtMs(t.run.meanMs)} ms, median ${fmtMs(t.run.medianMs)} ms, p90 ${fmtMs(t.run.p90Ms)} ms, ` +
      `min ${fmtMs(t.run.minMs)} ms`,
  ];
  if (t.macs > 0)
    lines.push(
      `MACs: ${fmtCount(t.macs)}MAC per run, ${((100 * t.int8Macs) / t.macs).toFixed(1)}% in int8` +
        (t.gmacPerS !== undefined ? `, ${t.gmacPerS.toFixed(1)} GMAC/s over operator time` : ''),
    );
  const boundaries = p.rows.filter((r) => r.boundary);
  if (boundaries.length)
    lines.push(
      `int8 boundaries: ${boundaries.length} quantize/dequantize row(s), ` +
        `${fmtMs(boundaries.reduce((s, r) => s + r.meanMs, 0))} ms per run`,
    );
  if (p.folded.length) lines.push(`${p.folded.length} node(s) folded at build: no run-time cost`);
  return lines.join('\n');
}

function speedup(r: ComparisonRow): string {
  return r.speedup !== undefined ? `${r.speedup.toFixed(2)}x` : '';
}

/** The comparison table, slowest first by the larger of the two times, then totals. */
export function formatComparison(c: ProfileComparison, options: TableOptions = {}): string {
  const [la, lb] = c.labels;
  const all = c.slowest();
  const rows = options.top ? all.slice(0, options.top) : all;
  const cells = rows.map((r) => [
    r.node,
    r.boundary ? `${r.op} (boundary)` : opsLabel(r),
    r.a.rows.length ? fmtMs(r.a.ms) : '-',
    r.b.rows.length ? fmtMs(r.b.ms) : '-',
    speedup(r),
    r.b.precision,
    r.b.kernel,
    r.slower ? `slower in ${lb}` : '',
  ]);
  const t = c.totals;
  const [pa] = c.profiles;
  const slower = c.slower();
  const lines = [
    title(pa).replace(`: ${pa.meta.precision},`, `: ${la} against ${lb},`),
    '',
    renderTable(
      ['node', 'op', `${la} ms`, `${lb} ms`, 'speedup', `${lb} precision`, `${lb} kernel`, 'note'],
      cells,
      [false, false, true, true, true, false, false, false],
    ),
    ...more(rows.length, all.length),
    '',
    `operators: ${la} ${fmtMs(t.aMs)} ms, ${lb} ${fmtMs(t.bMs)} ms per run: ${t.speedup.toFixed(2)}x`,
    `engine.run: ${la} ${fmtMs(t.aRunMs)} ms, ${lb} ${fmtMs(t.bRunMs)} ms: ${t.runSpeedup.toFixed(2)}x`,
    '(ms: medians over the timed runs; operators: the sum of the rows)',
  ];
  if (t.boundaryMs > 0) lines.push(`${lb} quantize/dequantize boundaries: ${fmtMs(t.boundaryMs)} ms per run`);
  if (slower.length)
    lines.push(
      `${slower.length} row(s) slower in ${lb}, adding ${fmtMs(slower.reduce((s, r) => s + r.deltaMs, 0))} ms: ` +
        slower
          .slice(0, 5)
          .map((r) => `${r.node} (+${fmtMs(r.deltaMs)} ms)`)
          .join(', ') +
        (slower.length > 5 ? ', ...' : ''),
    );
  return lines.join('\n');
}
