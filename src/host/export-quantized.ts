/**
 * `swiftlet export --quant-bits 4|8`: a dense checkpoint written as a GPTQ v1 checkpoint (what
 * AutoGPTQ writes and transformers / vLLM load): config.json with quantization_config, the same
 * in quantize_config.json, packed safetensors, the tokenizer files. Round-to-nearest, or GPTQ
 * proper (gptq-calibration.ts: calibration text through the CPU runner, error feedback).
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
import { GptqCheckpointView, gptqQuantizationConfig, type ProjectionQuantizer } from '../model/quant/gptq-checkpoint.js';
import { gptqQuantizeModel } from './gptq-calibration.js';
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
  /** gptq: calibration JSONL (undefined: the built-in text set). */
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

async function projectionQuantizer(options: QuantizeCheckpointOptions, spec: ReturnType<typeof loadModelSpec>, dense: SafetensorsCheckpoint, grid: QuantGrid): Promise<ProjectionQuantizer> {
  if (options.method === 'rtn') return (weights, shape) => quantizeRtn(weights, shape, grid);
  const tokenizer = await loadTokenizer(options.modelDir);
  const sequences = calibrationSequences(calibrationTexts(options.dataset), (text) => tokenizer.encode(text), CALIBRATION_SEQUENCE_TOKENS, CALIBRATION_SEQUENCES);
  const quantized = await gptqQuantizeModel(spec, dense, {
    grid, gptq: { dampPercent: GPTQ_DAMP_PERCENT, actOrder: options.actOrder ?? false }, sequences,
    ...(options.numThreads !== undefined ? { numThreads: options.numThreads } : {}),
    ...(options.onLayer ? { onLayer: options.onLayer } : {}),
  });
  const { checkpoint } = architectureOf(spec);
  return (_weights, _shape, where) => quantized.get(checkpoint.loraModuleName(where.layer, where.projection))!;
}

export async function quantizeCheckpoint(options: QuantizeCheckpointOptions): Promise<{ numTensors: number; bytes: number }> {
  if (options.method === 'awq') throw new ModelLoadError('--quant-method awq is not implemented yet (rtn and gptq are)');
  if (options.method === 'rtn' && (options.actOrder || options.dataset !== undefined)) throw new ModelLoadError('--act-order and --dataset need --quant-method gptq');
  const spec = loadModelSpec(options.modelDir);
  if (spec.quantization) throw new ModelLoadError(`${options.modelDir} is already quantized (${spec.quantization.method})`);
  const grid: QuantGrid = { bits: options.bits, groupSize: options.groupSize, sym: true };
  const dense = SafetensorsCheckpoint.open(options.modelDir);
  let writer: SafetensorsWriter | undefined;
  try {
    prepareOutputDir(options.outputDir, [options.modelDir], "the model's");
    const view = new GptqCheckpointView(spec, dense, grid, await projectionQuantizer(options, spec, dense, grid));
    const plan: TensorPlan[] = view.names().map((name) => ({ name, ...view.info(name) }));
    writer = new SafetensorsWriter(options.outputDir, plan, options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
    const order = writer.order();
    for (const [i, { name }] of order.entries()) {
      writer.write(name, view.read(name).bytes);
      options.onTensor?.(i + 1, order.length);
    }
    writer.finish();
    const quantizationConfig = gptqQuantizationConfig(grid, options.actOrder ?? false);
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
