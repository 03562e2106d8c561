// Two profiles of one model side by side (fp32 against int8, typically). The two engines need not fuse the same
// nodes (an int8 engine keeps Conv and its residual Add apart where fp32 fuses them), so rows are matched by ONNX
// node: any two nodes that share a row in either profile end up in one comparison row, and each side's time for it is
// the sum of its rows there. Quantize/dequantize boundaries exist on one side only and stay rows of their own.
// Comparisons use medians (a row's median over the timed runs, summed over the group): on a shared machine one
// preempted run moves a mean by more than int8 gains on a small operator, and the median does not move.

import { Engine, type CalibrationRanges, type Precision } from '../engine';
import { Int8rtError } from '../errors';
import { checkProfileOptions, type Profile, type ProfileOptions, type ProfileRow } from '../profile';
import type { Tensor } from '../tensor';
import { htmlReport, type HtmlReportOptions } from './html';
import { formatComparison, type TableOptions } from './text';
import { chromeTrace, type ChromeTrace } from './trace';

export interface ComparisonSide {
  /** The figure compared: the sum of this side's row medians in the group, in ms per run (0 when it has none). */
  ms: number;
  /** The sum of the rows' means. */
  meanMs: number;
  /** This side's executed nodes (row keys) in the group. */
  rows: string[];
  /** Precision(s) of those rows, e.g. 'int8' or 'fp32' ('int8+fp32' when they differ). */
  precision: string;
  kernel: string;
  macs: number;
}

export interface ComparisonRow {
  /** The first ONNX node of the group in run order (or the boundary's name). */
  node: string;
  /** Every ONNX node of the group (empty for a boundary). */
  nodes: string[];
  ops: string[];
  /** The executed op of the group's first row ('Conv', 'QuantizeLinear', ...). */
  op: string;
  boundary?: boolean;
  a: ComparisonSide;
  b: ComparisonSide;
  /** a.ms / b.ms (above 1: b is faster); absent when either side has no row in the group. */
  speedup?: number;
  /** b.ms - a.ms. */
  deltaMs: number;
  /** b is at least 5% slower than a, or the group exists in b only (a quantize/dequantize boundary). */
  slower: boolean;
}

export interface ComparisonTotals {
  /** Sum of the row medians: operator time per run. */
  aMs: number;
  bMs: number;
  speedup: number;
  /** Median wall time of whole runs. */
  aRunMs: number;
  bRunMs: number;
  runSpeedup: number;
  /** Time b spends in quantize/dequantize boundaries per run (sum of their medians). */
  boundaryMs: number;
}

/** Rows in b's run order (a-only groups after the b row that precedes them in a's order), with totals. */
export class ProfileComparison {
  readonly kind = 'comparison' as const;
  /** Names of the two sides, e.g. ['fp32', 'int8']. */
  readonly labels: [string, string];
  readonly rows: ComparisonRow[];
  readonly totals: ComparisonTotals;
  readonly profiles: [Profile, Profile];

  constructor(labels: [string, string], rows: ComparisonRow[], totals: ComparisonTotals, profiles: [Profile, Profile]) {
    this.labels = labels;
    this.rows = rows;
    this.totals = totals;
    this.profiles = profiles;
  }

  /** Rows by the larger of the two times, slowest first. */
  slowest(): ComparisonRow[] {
    return [...this.rows].sort((x, y) => Math.max(y.a.ms, y.b.ms) - Math.max(x.a.ms, x.b.ms));
  }

  /** Groups where b is slower than a (`slower`), boundaries included, worst first by added time. */
  slower(): ComparisonRow[] {
    return this.rows.filter((r) => r.slower).sort((x, y) => y.deltaMs - x.deltaMs);
  }

  /** The comparison table, slowest first, with totals (what `int8rt profile --precision a,b` prints). */
  format(options: TableOptions = {}): string {
    return formatComparison(this, options);
  }

  /** Chrome trace JSON with each side in a process of its own. */
  toChromeTrace(): ChromeTrace {
    return chromeTrace(this);
  }

  /** A self-contained HTML report: both sides in one chart, the table, the precision report of side b. */
  toHTML(options: HtmlReportOptions = {}): string {
    return htmlReport(this, options);
  }

  toJSON(): object {
    return { kind: this.kind, labels: this.labels, totals: this.totals, rows: this.rows, profiles: this.profiles };
  }
}

function keysOf(row: ProfileRow): string[] {
  return row.nodes.length > 0 ? row.nodes : [row.node];
}

class UnionFind {
  #parent = new Map<string, string>();
  find(x: string): string {
    let p = this.#parent.get(x);
    if (p === undefined) {
      this.#parent.set(x, x);
      return x;
    }
    // Path halving: point each visited node at its grandparent.
    while (p !== x) {
      const grand: string = this.#parent.get(p) ?? p;
      this.#parent.set(x, grand);
      x = p;
      p = this.#parent.get(x) ?? x;
    }
    return x;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.#parent.set(rb, ra);
  }
}

function side(rows: ProfileRow[]): ComparisonSide {
  const precisions = [...new Set(rows.map((r) => r.precision))];
  const kernels = [...new Set(rows.map((r) => r.kernel))];
  return {
    ms: rows.reduce((s, r) => s + r.medianMs, 0),
    meanMs: rows.reduce((s, r) => s + r.meanMs, 0),
    rows: rows.map((r) => r.node),
    precision: precisions.join('+'),
    kernel: kernels.join(' + '),
    macs: rows.reduce((s, r) => s + r.macs, 0),
  };
}

/**
 * One row per group of ONNX nodes with the time of each profile, the speedup a/b and totals. `labels` default to the
 * profiles' precisions.
 */
export function compareProfiles(a: Profile, b: Profile, labels?: [string, string]): ProfileComparison {
  if (a?.kind !== 'profile' || b?.kind !== 'profile')
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', 'compareProfiles() takes two profiles from engine.profile()');
  const uf = new UnionFind();
  for (const p of [a, b])
    for (const r of p.rows) {
      const keys = keysOf(r);
      for (const k of keys) uf.union(keys[0], k);
    }
  interface Group {
    a: ProfileRow[];
    b: ProfileRow[];
    order: number;
  }
  const groups = new Map<string, Group>();
  const groupOf = (r: ProfileRow): Group => {
    const root = uf.find(keysOf(r)[0]);
    let g = groups.get(root);
    if (!g) {
      g = { a: [], b: [], order: -1 };
      groups.set(root, g);
    }
    return g;
  };
  // Order: b's run order; a group only a has goes right after the group of a's previous row.
  b.rows.forEach((r, i) => {
    const g = groupOf(r);
    g.b.push(r);
    if (g.order < 0) g.order = i;
  });
  let previous = -1;
  a.rows.forEach((r) => {
    const g = groupOf(r);
    g.a.push(r);
    if (g.order < 0) g.order = previous + 1e-6;
    previous = g.order;
  });

  const rows: ComparisonRow[] = [];
  for (const g of [...groups.values()].sort((x, y) => x.order - y.order)) {
    const first = g.b[0] ?? g.a[0];
    const nodes: string[] = [];
    const ops: string[] = [];
    for (const r of [...g.a, ...g.b])
      r.nodes.forEach((n, i) => {
        if (!nodes.includes(n)) {
          nodes.push(n);
          ops.push(r.ops[i]);
        }
      });
    const sa = side(g.a);
    const sb = side(g.b);
    const row: ComparisonRow = {
      node: nodes[0] ?? first.node,
      nodes,
      ops,
      op: first.op,
      a: sa,
      b: sb,
      deltaMs: sb.ms - sa.ms,
      slower: g.b.length > 0 && (g.a.length === 0 || sb.ms > 1.05 * sa.ms),
    };
    if (nodes.length === 0 && [...g.a, ...g.b].every((r) => r.boundary)) row.boundary = true;
    if (g.a.length && g.b.length && sb.ms > 0) row.speedup = sa.ms / sb.ms;
    rows.push(row);
  }
  const medians = (p: Profile) => p.rows.reduce((s, r) => s + r.medianMs, 0);
  const aMs = medians(a);
  const bMs = medians(b);
  const totals: ComparisonTotals = {
    aMs,
    bMs,
    speedup: bMs > 0 ? aMs / bMs : 0,
    aRunMs: a.totals.run.medianMs,
    bRunMs: b.totals.run.medianMs,
    runSpeedup: b.totals.run.medianMs > 0 ? a.totals.run.medianMs / b.totals.run.medianMs : 0,
    boundaryMs: b.rows.filter((r) => r.boundary).reduce((s, r) => s + r.medianMs, 0),
  };
  return new ProfileComparison(labels ?? [a.meta.precision, b.meta.precision], rows, totals, [a, b]);
}

export interface ProfileCompareOptions extends ProfileOptions {
  /** The two precisions to compare (default ['fp32', 'int8']). */
  precisions?: [Precision, Precision];
  /** Needed when one side is 'int8'. */
  calibration?: CalibrationRanges;
  intraOpThreads?: number;
  nodePrecision?: Record<string, 'fp32' | 'int8'>;
}

/**
 * Builds one engine per precision, profiles each on the same feeds (one after the other, so they do not compete for
 * cores) and compares them: `profileCompare('model.onnx', feeds, { precisions: ['fp32', 'int8'], calibration })`.
 */
export async function profileCompare(
  model: string | Uint8Array,
  feeds: Record<string, Tensor>,
  options: ProfileCompareOptions = {},
): Promise<ProfileComparison> {
  const { iterations, warmup } = checkProfileOptions(options);
  const precisions = options.precisions ?? ['fp32', 'int8'];
  if (!Array.isArray(precisions) || precisions.length !== 2)
    throw new Int8rtError(
      'ERR_INT8RT_INVALID_ARGUMENT',
      "precisions must name exactly two precisions, e.g. ['fp32', 'int8']",
    );
  const profiles: Profile[] = [];
  for (const precision of precisions) {
    const engine = await Engine.create(model, {
      precision,
      calibration: precision === 'int8' ? options.calibration : undefined,
      intraOpThreads: options.intraOpThreads,
      nodePrecision: precision === 'int8' || precision === 'int8-dynamic' ? options.nodePrecision : undefined,
    });
    try {
      profiles.push(await engine.profile(feeds, { iterations, warmup }));
    } finally {
      engine.release();
    }
  }
  return compareProfiles(profiles[0], profiles[1], [precisions[0], precisions[1]]);
}
