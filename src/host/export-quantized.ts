/**
 * `swiftlet export --quant-bits 4|8`: a dense checkpoint written as a GPTQ v1 checkpoint (what
 * AutoGPTQ writes and transformers / vLLM load: config.json with quantization_config, the same in
 * quantize_config.json, packed safetensors, the tokenizer files), round-to-nearest or GPTQ proper
 * (gptq-calibration.ts); or, `--quant-method awq` (4 bits), as an AutoAWQ GEMM checkpoint
 * (awq-calibration.ts: activation-aware scales folded into the norms and projections).
 * Both calibrate on text run through the CPU runner. Bad options are refused before anything is written.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKPOINT_SIDE_FILES, prepareOutputDir } from '../model/checkpoint-files.js';
import { loadModelSpec } from '../model/config.js';
import { ModelLoadError } from '../model/errors.js';
import { DEFAULT_MAX_SHARD_BYTES } from '../model/merge-lora.js';
import { SafetensorsCheckpoint } from '../model/safetensors.js';
import { SafetensorsWriter, type TensorPlan } from '../model/safetensors-writer.js';
import { architectureOf } from '../model/arch/registry.js';
import { loadTokenizer } from '../model/tokenizer.js';
import { calibrationSequences, calibrationTexts } from '../model/quant/calibration-data.js';
import { QuantizedCheckpointView, type NamedSource, type ProjectionPacking, type ProjectionQuantizer } from '../model/quant/quantized-checkpoint.js';
import { gptqPacking, gptqQuantizationConfig } from '../model/quant/gptq-packing.js';
import { awqPacking, awqQuantizationConfig } from '../model/quant/awq-packing.js';
import { PROJECTIONS, projectionShape } from '../model/layout.js';
import type { ModelSpec } from '../model/spec.js';
import { gptqQuantizeModel } from './gptq-calibration.js';
import { awqQuantizeModel, checkAwqSupported } from './awq-calibration.js';
import { overlay, type CalibrationOptions } from './layerwise-calibration.js';
import type { QuantBits } from '../model/quant/quant-config.js';
import { quantizeRtn, type QuantGrid } from '../model/quant/rtn.js';

export const QUANT_METHODS = ['rtn', 'gptq', 'awq'] as const;
export type ExportQuantMethod = (typeof QUANT_METHODS)[number];

export interface QuantizeCheckpointOptions {
  modelDir: string;
  outputDir: string;
  bits: QuantBits;
  method: ExportQuantMethod;
  /** Columns per group; undefined: one group per row. */
  groupSize: number | undefined;
  maxShardBytes?: number;
  /** gptq, awq: calibration JSONL (undefined: the built-in text set). */
  dataset?: string;
  /** gptq: quantize columns in order of decreasing Hessian diagonal (desc_act, g_idx). */
  actOrder?: boolean;
  numThreads?: number;
  onLayer?: (done: number, total: number) => void;
  onTensor?: (done: number, total: number) => void;
}

/** GPTQ's calibration: sequences of this many tokens, at most this many (AutoGPTQ's examples use 128 x 2048 on a GPU; this runs on the CPU). */
const CALIBRATION_SEQUENCE_TOKENS = 256;
const CALIBRATION_SEQUENCES = 64;
const GPTQ_DAMP_PERCENT = 0.01;

/** What the export writes: the tensors (dense ones passed through, projections packed) and config.json's quantization_config. */
interface QuantizedExport {
  view: NamedSource;
  quantizationConfig: Record<string, unknown>;
}

async function calibrationOptions(options: QuantizeCheckpointOptions): Promise<CalibrationOptions> {
  const tokenizer = await loadTokenizer(options.modelDir);
  const sequences = calibrationSequences(calibrationTexts(options.dataset), (text) => tokenizer.encode(text), CALIBRATION_SEQUENCE_TOKENS, CALIBRATION_SEQUENCES);
  return {
    sequences,
    ...(options.numThreads !== undefined ? { numThreads: options.numThreads } : {}),
    ...(options.onLayer ? { onLayer: options.onLayer } : {}),
  };
}

async function quantizedExport(options: QuantizeCheckpointOptions, spec: ModelSpec, dense: SafetensorsCheckpoint, grid: QuantGrid): Promise<QuantizedExport> {
  const { checkpoint } = architectureOf(spec);
  const view = (source: NamedSource, packing: ProjectionPacking, quantize: ProjectionQuantizer) => new QuantizedCheckpointView(spec, source, packing, quantize);
  if (options.method === 'rtn') {
    return { view: view(dense, gptqPacking(grid), (weights, shape) => quantizeRtn(weights, shape, grid)), quantizationConfig: gptqQuantizationConfig(grid, false) };
  }
  if (options.method === 'awq') {
    const { quantized, folded } = await awqQuantizeModel(spec, dense, { grid, ...(await calibrationOptions(options)) });
    const quantize: ProjectionQuantizer = (_weights, _shape, where) => quantized.get(checkpoint.loraModuleName(where.layer, where.projection))!;
    return { view: view(overlay(dense, folded), awqPacking(grid), quantize), quantizationConfig: awqQuantizationConfig(grid) };
  }
  const actOrder = options.actOrder ?? false;
  const quantized = await gptqQuantizeModel(spec, dense, { grid, gptq: { dampPercent: GPTQ_DAMP_PERCENT, actOrder }, ...(await calibrationOptions(options)) });
  const quantize: ProjectionQuantizer = (_weights, _shape, where) => quantized.get(checkpoint.loraModuleName(where.layer, where.projection))!;
  return { view: view(dense, gptqPacking(grid), quantize), quantizationConfig: gptqQuantizationConfig(grid, actOrder) };
}

/** Throws, before anything is read or written, for options the method or the model cannot take. */
function checkOptions(options: QuantizeCheckpointOptions, spec: ModelSpec): void {
  if (options.method === 'rtn' && (options.actOrder || options.dataset !== undefined)) throw new ModelLoadError('--act-order and --dataset need --quant-method gptq or awq');
  if (options.method === 'awq') {
    if (options.bits !== 4) throw new ModelLoadError(`--quant-method awq writes 4-bit weights only (got --quant-bits ${options.bits})`);
    if (options.actOrder) throw new ModelLoadError('--act-order needs --quant-method gptq');
    checkAwqSupported(spec);
  }
  if (spec.quantization) throw new ModelLoadError(`${options.modelDir} is already quantized (${spec.quantization.method})`);
  for (const projection of PROJECTIONS) {
    const [outputs, inputs] = projectionShape(spec, projection);
    // NOTE: a group wider than the inputs is one group per row (as AutoGPTQ reads it); a narrower one must tile them.
    if (options.groupSize !== undefined && options.groupSize < inputs && inputs % options.groupSize !== 0) {
      throw new ModelLoadError(`--group-size ${options.groupSize} does not divide ${projection}'s ${inputs} inputs`);
    }
    if (options.method === 'awq' && outputs % 8 !== 0) throw new ModelLoadError(`AWQ packs 8 outputs to a word; ${projection} has ${outputs}`);
  }
}

export async function quantizeCheckpoint(options: QuantizeCheckpointOptions): Promise<{ numTensors: number; bytes: number }> {
  const spec = loadModelSpec(options.modelDir);
  checkOptions(options, spec);
  // NOTE: AWQ's checkpoints carry zero points (asymmetric groups); GPTQ's here are symmetric, as AutoGPTQ's default.
  const grid: QuantGrid = { bits: options.bits, groupSize: options.groupSize, sym: options.method !== 'awq' };
  const dense = SafetensorsCheckpoint.open(options.modelDir);
  let writer: SafetensorsWriter | undefined;
  try {
    prepareOutputDir(options.outputDir, [options.modelDir], "the model's");
    const { view, quantizationConfig } = await quantizedExport(options, spec, dense, grid);
    const plan: TensorPlan[] = view.names().map((name) => ({ name, ...view.info(name) }));
    writer = new SafetensorsWriter(options.outputDir, plan, options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
    const order = writer.order();
    for (const [i, { name }] of order.entries()) {
      writer.write(name, view.read(name).bytes);
      options.onTensor?.(i + 1, order.length);
    }
    writer.finish();
    const config = JSON.parse(readFileSync(join(options.modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(options.outputDir, 'config.json'), `${JSON.stringify({ ...config, quantization_config: quantizationConfig }, null, 2)}\n`);
    writeFileSync(join(options.outputDir, 'quantize_config.json'), `${JSON.stringify(quantizationConfig, null, 2)}\n`);
    for (const file of CHECKPOINT_SIDE_FILES) {
      if (existsSync(join(options.modelDir, file))) copyFileSync(join(options.modelDir, file), join(options.outputDir, file));
    }
    return { numTensors: order.length, bytes: writer.shards.reduce((sum, shard) => sum + shard.bytes, 0) };
  } finally {
    writer?.closeShard();
    dense.close();
  }
}
