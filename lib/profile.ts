// Per-operator profiles: what `engine.profile()` returns, built from the addon's raw step timings
// (native/addon/profile.h) joined with the precision report, so that every row is keyed by ONNX node names.
// Exports (Chrome trace, HTML) and comparisons live in lib/profile/.

import { Int8rtError } from './errors';
import type { NativeTensor } from './native';
import { htmlReport, type HtmlReportOptions } from './profile/html';
import { formatProfile, type TableOptions } from './profile/text';
import { chromeTrace, type ChromeTrace } from './profile/trace';

/** What the addon's EngineHandle.profile() resolves to (native/addon/profile.h). */
export interface RawProfile {
  steps: {
    name: string;
    op: string;
    kernel: string;
    precision: string;
    /** Where the step ran: 'cpu' or 'cuda' (a CUDA step is timed with CUDA events). */
    device?: string;
    macs: number;
    inputShapes: (number[] | null)[];
    outputShapes: (number[] | null)[];
  }[];
  iterations: number;
  originUs: number;
  stepBeginUs: Float64Array;
  stepEndUs: Float64Array;
  runBeginUs: Float64Array;
  runEndUs: Float64Array;
}

/** The part of the addon's EngineHandle that profiling uses. */
export interface ProfilingHandle {
  profile(
    names: string[],
    tensors: NativeTensor[],
    options: { iterations: number; warmup: number },
  ): Promise<RawProfile>;
}

/** The report rows a profile is joined with (the shape of `engine.report()`). */
export interface ProfileReportRow {
  node: string;
  op: string;
  precision: string;
  device: string;
  kernel: string;
  fusedInto?: string;
  note?: string;
  reason?: string;
  boundary?: boolean;
}

export interface ProfileOptions {
  /** Timed runs (default 50). */
  iterations?: number;
  /** Untimed runs before them (default 5): first-run costs (page faults, arena growth, caches) are excluded. */
  warmup?: number;
}

/** Statistics of one series of durations, in milliseconds. */
export interface TimeStats {
  totalMs: number;
  meanMs: number;
  medianMs: number;
  /** 90th percentile (nearest rank). */
  p90Ms: number;
  minMs: number;
  maxMs: number;
}

/** One executed step: an ONNX node with every node fused into it, or a quantize/dequantize boundary. */
export interface ProfileRow extends TimeStats {
  /** The executed node's name: an ONNX node name (the host of a fused group), or the boundary's name. */
  node: string;
  /** Every original ONNX node this row runs, host first (empty for a boundary, which is not an ONNX node). */
  nodes: string[];
  /** The op of each name in `nodes`. */
  ops: string[];
  /** The executed op ('Conv' for a Conv+Add+Relu group, 'QuantizeLinear' for a boundary). */
  op: string;
  precision: string;
  device: string;
  kernel: string;
  /** A QuantizeLinear/DequantizeLinear that int8rt inserted between float and int8 nodes. */
  boundary?: boolean;
  /** Timed calls (one per run). */
  calls: number;
  /** This row's mean over the sum of every row's mean, in [0, 1]. */
  share: number;
  /** Multiply-accumulates per call (Conv, ConvTranspose, Gemm, MatMul; 0 for other ops). */
  macs: number;
  /** Achieved multiply-accumulates per second over the mean time, in billions (absent when macs is 0). */
  gmacPerS?: number;
  /** Shapes of the inputs (constants included; null for an absent optional input) and outputs of the first run. */
  inputShapes: (number[] | null)[];
  outputShapes: (number[] | null)[];
}

/** An ONNX node that costs nothing at run time: folded to a constant (or into a folded node) at build. */
export interface FoldedNode {
  node: string;
  op: string;
  note: string;
}

export interface ProfileTotals {
  /** Sum of every row's mean: the time spent inside operators per run. */
  operatorsMs: number;
  /** Wall time of whole engine runs (feed checks, arena, output hand-over included), per run. */
  run: TimeStats;
  /** Multiply-accumulates per run, and the share of them that ran in int8. */
  macs: number;
  int8Macs: number;
  /** macs over the mean operator time, in billions per second. */
  gmacPerS?: number;
}

/** Per-step begin/end times of every timed run, in microseconds from the first run's start. */
export interface ProfileTimeline {
  readonly stepBeginUs: Float64Array;
  readonly stepEndUs: Float64Array;
  readonly runBeginUs: Float64Array;
  readonly runEndUs: Float64Array;
}

export interface ProfileMeta {
  /** What was profiled: the model's file name, when known. */
  model?: string;
  /** The engine's precision option ('fp32', 'int8', ...). */
  precision: string;
  intraOpThreads: number;
  iterations: number;
  warmup: number;
  /** The shapes of the feeds. */
  inputs: { name: string; dtype: string; dims: number[] }[];
}

/**
 * The per-operator profile of one engine: rows in run order (`slowest()` sorts them), totals, and the precision
 * report it was joined with. `toJSON()` leaves out the raw timeline; `chromeTrace()` and `htmlReport()` (also
 * `toChromeTrace()` / `toHTML()`) export it.
 */
export class Profile {
  readonly kind = 'profile' as const;
  readonly meta: ProfileMeta;
  readonly rows: ProfileRow[];
  readonly folded: FoldedNode[];
  readonly totals: ProfileTotals;
  /** engine.report() of the profiled engine. */
  readonly report: ProfileReportRow[];
  readonly #timeline: ProfileTimeline;

  constructor(
    meta: ProfileMeta,
    rows: ProfileRow[],
    folded: FoldedNode[],
    totals: ProfileTotals,
    report: ProfileReportRow[],
    timeline: ProfileTimeline,
  ) {
    this.meta = meta;
    this.rows = rows;
    this.folded = folded;
    this.totals = totals;
    this.report = report;
    this.#timeline = timeline;
  }

  /** Raw per-run timings (for traces). */
  get timeline(): ProfileTimeline {
    return this.#timeline;
  }

  /** Rows, slowest first (by mean). */
  slowest(): ProfileRow[] {
    return [...this.rows].sort((a, b) => b.meanMs - a.meanMs);
  }

  /** The row that runs ONNX node `name` (itself or fused into another), if any. */
  rowOf(name: string): ProfileRow | undefined {
    return this.rows.find((r) => r.node === name || r.nodes.includes(name));
  }

  /** The per-operator table, slowest first, with totals (what `int8rt profile` prints). */
  format(options: TableOptions = {}): string {
    return formatProfile(this, options);
  }

  /** Chrome trace JSON (Perfetto, chrome://tracing): one 'X' event per node per timed run. */
  toChromeTrace(): ChromeTrace {
    return chromeTrace(this);
  }

  /** A self-contained HTML report (inline SVG chart, tables; no network access needed). */
  toHTML(options: HtmlReportOptions = {}): string {
    return htmlReport(this, options);
  }

  toJSON(): object {
    return { kind: this.kind, meta: this.meta, totals: this.totals, rows: this.rows, folded: this.folded, report: this.report };
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** Statistics of durations in ms (nearest-rank percentiles; the input is not modified). */
export function timeStats(values: ArrayLike<number>): TimeStats {
  const n = values.length;
  if (n === 0) return { totalMs: 0, meanMs: 0, medianMs: 0, p90Ms: 0, minMs: 0, maxMs: 0 };
  const sorted = Float64Array.from(values).sort();
  let total = 0;
  for (let i = 0; i < n; i++) total += sorted[i];
  const rank = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { totalMs: total, meanMs: total / n, medianMs: median, p90Ms: rank(0.9), minMs: sorted[0], maxMs: sorted[n - 1] };
}

export function checkProfileOptions(options: ProfileOptions): { iterations: number; warmup: number } {
  if (options === null || typeof options !== 'object')
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', 'profile options must be an object');
  const iterations = options.iterations ?? 50;
  const warmup = options.warmup ?? 5;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 1e6)
    throw new Int8rtError(
      'ERR_INT8RT_INVALID_ARGUMENT',
      `iterations must be an integer from 1 to 1000000, got ${String(iterations)}`,
    );
  if (!Number.isInteger(warmup) || warmup < 0 || warmup > 1e6)
    throw new Int8rtError('ERR_INT8RT_INVALID_ARGUMENT', `warmup must be an integer from 0 to 1000000, got ${String(warmup)}`);
  return { iterations, warmup };
}

/** Joins the addon's step timings with the engine's report: one row per executed step, keyed by ONNX node names. */
export function buildProfile(raw: RawProfile, report: ProfileReportRow[], meta: ProfileMeta): Profile {
  const nSteps = raw.steps.length;
  const iters = raw.iterations;
  const stepNames = new Set(raw.steps.map((s) => s.name));
  const reportByName = new Map<string, ProfileReportRow>();
  const guests = new Map<string, ProfileReportRow[]>();
  for (const r of report) {
    if (!r.boundary) reportByName.set(r.node, r);
    if (r.fusedInto !== undefined) {
      const list = guests.get(r.fusedInto) ?? [];
      list.push(r);
      guests.set(r.fusedInto, list);
    }
  }

  const durations = new Float64Array(iters);
  const rows: ProfileRow[] = [];
  let operatorsMs = 0;
  let macs = 0;
  let int8Macs = 0;
  for (let s = 0; s < nSteps; s++) {
    const step = raw.steps[s];
    for (let i = 0; i < iters; i++) {
      const k = i * nSteps + s;
      durations[i] = (raw.stepEndUs[k] - raw.stepBeginUs[k]) / 1e3;
    }
    const stats = timeStats(durations);
    const own = reportByName.get(step.name);
    const boundary = report.some((r) => r.boundary && r.node === step.name);
    const nodes: string[] = [];
    const ops: string[] = [];
    if (own && !boundary && own.fusedInto === undefined) {
      nodes.push(own.node);
      ops.push(own.op);
    }
    for (const g of guests.get(step.name) ?? []) {
      nodes.push(g.node);
      ops.push(g.op);
    }
    const row: ProfileRow = {
      node: step.name,
      nodes,
      ops,
      op: step.op,
      precision: step.precision,
      device: step.device ?? own?.device ?? 'cpu',
      kernel: step.kernel,
      calls: iters,
      ...stats,
      share: 0,
      macs: step.macs,
      inputShapes: step.inputShapes,
      outputShapes: step.outputShapes,
    };
    if (boundary) row.boundary = true;
    if (step.macs > 0 && stats.meanMs > 0) row.gmacPerS = step.macs / (stats.meanMs * 1e-3) / 1e9;
    rows.push(row);
    operatorsMs += stats.meanMs;
    macs += step.macs;
    if (step.precision === 'int8') int8Macs += step.macs;
  }
  for (const r of rows) r.share = operatorsMs > 0 ? r.meanMs / operatorsMs : 0;

  // Nodes with no run-time cost: folded at build, or fused into a node that was itself folded.
  const folded: FoldedNode[] = [];
  for (const r of report) {
    if (r.boundary || stepNames.has(r.node)) continue;
    if (r.fusedInto !== undefined && stepNames.has(r.fusedInto)) continue;
    folded.push({ node: r.node, op: r.op, note: r.note ?? 'removed at build' });
  }

  const runMs = new Float64Array(iters);
  for (let i = 0; i < iters; i++) runMs[i] = (raw.runEndUs[i] - raw.runBeginUs[i]) / 1e3;
  const totals: ProfileTotals = { operatorsMs, run: timeStats(runMs), macs, int8Macs };
  if (macs > 0 && operatorsMs > 0) totals.gmacPerS = macs / (operatorsMs * 1e-3) / 1e9;
  const timeline: ProfileTimeline = {
    stepBeginUs: raw.stepBeginUs,
    stepEndUs: raw.stepEndUs,
    runBeginUs: raw.runBeginUs,
    runEndUs: raw.runEndUs,
  };
  return new Profile(meta, rows, folded, totals, report, timeline);
}
