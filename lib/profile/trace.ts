// Chrome trace event format (the JSON Object Format read by Perfetto and chrome://tracing): one complete ('X') event
// per executed node per timed run, category 'op', plus one 'run' event spanning each whole run (as onnxruntime's
// profiler has a model_run event beside its node events). A comparison puts each profile in a process of its own,
// both starting at 0, so the two timelines line up one above the other.

import type { Profile } from '../profile';
import type { ProfileComparison } from './compare';

export interface TraceEvent {
  name: string;
  cat?: string;
  ph: 'X' | 'M';
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, unknown>;
}

// Three decimals of a microsecond: nanosecond timestamps without float noise in the file.
const us = (x: number) => Math.round(x * 1000) / 1000;

function profileEvents(p: Profile, pid: number, label: string): TraceEvent[] {
  const events: TraceEvent[] = [
    { name: 'process_name', ph: 'M', pid, tid: 0, args: { name: label } },
    { name: 'process_sort_index', ph: 'M', pid, tid: 0, args: { sort_index: pid } },
    { name: 'thread_name', ph: 'M', pid, tid: 1, args: { name: 'engine.run' } },
  ];
  const t = p.timeline;
  const n = p.rows.length;
  const iterations = t.runBeginUs.length;
  for (let i = 0; i < iterations; i++) {
    events.push({
      name: `run ${i}`,
      cat: 'run',
      ph: 'X',
      ts: us(t.runBeginUs[i]),
      dur: us(t.runEndUs[i] - t.runBeginUs[i]),
      pid,
      tid: 1,
      args: { iteration: i, precision: p.meta.precision },
    });
    for (let s = 0; s < n; s++) {
      const r = p.rows[s];
      const k = i * n + s;
      const args: Record<string, unknown> = {
        op: r.op,
        nodes: r.nodes,
        precision: r.precision,
        kernel: r.kernel,
        iteration: i,
        input_shapes: r.inputShapes,
        output_shapes: r.outputShapes,
      };
      if (r.boundary) args.boundary = true;
      if (r.macs > 0) args.macs = r.macs;
      events.push({
        name: r.node,
        cat: 'op',
        ph: 'X',
        ts: us(t.stepBeginUs[k]),
        dur: us(t.stepEndUs[k] - t.stepBeginUs[k]),
        pid,
        tid: 1,
        args,
      });
    }
  }
  return events;
}

/** The trace of a profile or of both profiles of a comparison; `JSON.stringify` it into a .json file. */
export function chromeTrace(p: Profile | ProfileComparison): ChromeTrace {
  if (p.kind === 'comparison') {
    const [a, b] = p.profiles;
    return {
      traceEvents: [
        ...profileEvents(a, 1, `int8rt ${p.labels[0]}`),
        ...profileEvents(b, 2, `int8rt ${p.labels[1]}`),
      ],
      displayTimeUnit: 'ms',
      otherData: { producer: 'int8rt', model: a.meta.model, labels: p.labels, iterations: a.meta.iterations },
    };
  }
  return {
    traceEvents: profileEvents(p, 1, `int8rt ${p.meta.precision}`),
    displayTimeUnit: 'ms',
    otherData: { producer: 'int8rt', model: p.meta.model, precision: p.meta.precision, iterations: p.meta.iterations },
  };
}
