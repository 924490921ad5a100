/**
 * `swiftlet export --quant-bits 4|8 [--quant-method rtn|gptq|awq] [--group-size N] --model DIR --output DIR`
 * (SWIFT: `--quant_bits`, `--quant_method`): the flags export.ts adds for quantizing, and the
 * quantized export itself (src/host/export-quantized.ts).
 */
import { UsageError, type FlagSpecs, type ParsedFlags } from '../args.js';
import { resolveModelDir } from '../../host/resolve-model.js';
import { formatBytes } from '../../model/hub/progress.js';
import { QUANT_METHODS, quantizeCheckpoint, type ExportQuantMethod } from '../../host/export-quantized.js';
import { tensorProgress } from '../tensor-progress.js';

export const QUANT_FLAGS: FlagSpecs = {
  'quant-bits': { kind: 'string', help: 'write a GPTQ (or with --quant-method awq, AWQ) checkpoint with 4- or 8-bit weights to --output DIR' },
  'quant-method': { kind: 'string', default: 'rtn', help: `--quant-bits: ${QUANT_METHODS.join(', ')} (rtn: round to nearest; gptq, awq: calibrated on the CPU; awq: 4 bits)` },
  'group-size': { kind: 'string', default: '128', help: '--quant-bits: input columns per scale (32, 64, 128, or -1: one per row)' },
  dataset: { kind: 'string', help: '--quant-method gptq or awq: calibration JSONL ({"text"}, {"messages"} or {"query", "response"} lines)', defaultText: 'a built-in text set' },
  'act-order': { kind: 'boolean', help: '--quant-method gptq: quantize columns by decreasing activation (desc_act, g_idx)' },
};

const GROUP_SIZES = new Set([-1, 32, 64, 128]);

function layerBar(done: number, total: number, width = 20): string {
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export async function quantCommand(flags: ParsedFlags): Promise<number> {
  const output = flags['output'] as string | undefined;
  if (output === undefined) throw new UsageError('--quant-bits needs --output DIR');
  const bits = Number(flags['quant-bits']);
  if (bits !== 4 && bits !== 8) throw new UsageError('--quant-bits must be 4 or 8');
  const method = String(flags['quant-method']);
  if (!(QUANT_METHODS as readonly string[]).includes(method)) throw new UsageError(`--quant-method must be one of ${QUANT_METHODS.join(', ')}`);
  const groupSize = Number(flags['group-size']);
  if (!GROUP_SIZES.has(groupSize)) throw new UsageError('--group-size must be 32, 64, 128 or -1');
  const modelDir = await resolveModelDir(flags['model'] as string | undefined);
  const progress = tensorProgress();
  const dataset = flags['dataset'] as string | undefined;
  const result = await quantizeCheckpoint({
    modelDir,
    outputDir: output,
    bits,
    method: method as ExportQuantMethod,
    groupSize: groupSize === -1 ? undefined : groupSize,
    ...(dataset !== undefined ? { dataset } : {}),
    actOrder: flags['act-order'] === true,
    onLayer: (done, total) => console.error(`  ${method.toUpperCase()} ${layerBar(done, total)} layer ${done}/${total}, ${progress.elapsedSeconds()} s`),
    onTensor: progress.onTensor,
  });
  const seconds = progress.elapsedSeconds();
  console.error(`wrote ${output}: ${method === 'awq' ? 'AWQ' : 'GPTQ'} ${bits}-bit (${method}, group ${groupSize}), ${result.numTensors} tensors, ${formatBytes(result.bytes)} in ${seconds} s`);
  return 0;
}
