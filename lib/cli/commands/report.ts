// int8rt report <model> --calib <file>: the precision report, one row per ONNX node (precision, kernel, what was
// fused or folded, why a node is not int8), then the quantize/dequantize boundaries.

import * as path from 'node:path';
import { Command } from 'commander';
import type { Device, Precision, ReportRow } from '../../engine';
import { renderTable } from '../../profile/text';
import { checkPrecisionArgs, DEVICE_OPTION, parseDevice, createEngine, intOption, Output, parsePrecision } from '../common';

interface ReportOptions {
  calib?: string;
  precision?: Precision;
  threads?: number;
  device?: Device;
  json?: boolean;
}

function summary(rows: ReportRow[], macs: { total: number; int8: number }): string[] {
  // Nodes folded at build have no kernel: they are counted apart from the precisions.
  const counts = new Map<string, number>();
  for (const r of rows) {
    if (r.boundary) continue;
    const key = r.kernel === '' ? 'folded at build' : r.precision;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const boundaries = rows.filter((r) => r.boundary).length;
  const lines = [
    `${rows.length - boundaries} ONNX node(s): ${[...counts].map(([p, n]) => `${n} ${p}`).join(', ')}` +
      (boundaries ? `; ${boundaries} quantize/dequantize boundary row(s)` : ''),
  ];
  if (macs.total > 0)
    lines.push(
      `MACs of a run on zeros: ${(macs.total / 1e6).toFixed(2)} M, ${((100 * macs.int8) / macs.total).toFixed(1)}% in int8`,
    );
  return lines;
}

export function reportCommand(): Command {
  return new Command('report')
    .description('print the precision report: per ONNX node, its precision, kernel and why it is not int8')
    .argument('<model>', 'ONNX model file')
    .option('-c, --calib <file>', 'calibration (TensorRT cache or int8rt JSON); needed for precision int8')
    .option('-p, --precision <precision>', 'fp32, fp16, int8 or int8-dynamic (default int8)', parsePrecision)
    .option('-t, --threads <n>', 'intra-op threads', intOption(1, 1024))
    .option(...DEVICE_OPTION, parseDevice)
    .option('--json', 'print the rows as JSON')
    .addHelpText('after', '\nExample: int8rt report model.onnx --calib model.calib')
    .action(async (model: string, o: ReportOptions) => {
      const out = new Output(o.json);
      const precision = o.precision ?? 'int8';
      checkPrecisionArgs([precision], o.calib, 'report');
      const engine = await createEngine(model, { precision, calib: o.calib, threads: o.threads, device: o.device });
      const cudaAsked = o.device !== undefined && o.device !== 'cpu';
      try {
        const rows = engine.report();
        const macs = engine.macs();
        out.result(
          () =>
            [
              `${path.basename(model)}: ${precision}` +
                (engine.device === 'cuda' ? ', CUDA' : cudaAsked ? `, CPU (${engine.deviceReason})` : ''),
              '',
              renderTable(
                ['node', 'op', 'precision', ...(cudaAsked ? ['device'] : []), 'kernel', 'fused into', 'note / reason'],
                rows.map((r) => [
                  r.node,
                  r.op,
                  r.precision,
                  ...(cudaAsked ? [r.device] : []),
                  r.kernel,
                  r.fusedInto ?? '',
                  [
                    r.boundary ? 'inserted by int8rt' : '',
                    r.note ?? '',
                    r.reason ? `not int8: ${r.reason}` : '',
                    engine.device === 'cuda' && r.deviceReason ? `on the CPU: ${r.deviceReason}` : '',
                  ]
                    .filter(Boolean)
                    .join('; '),
                ]),
                [false, false, false, ...(cudaAsked ? [false] : []), false, false, false],
              ),
              '',
              ...summary(rows, macs),
            ].join('\n'),
          { model, precision, rows, macs },
        );
      } finally {
        engine.release();
      }
    });
}
