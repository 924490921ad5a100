/**
 * `swiftlet export --quant-bits 4|8`: a dense checkpoint written as a GPTQ v1 checkpoint (what
 * AutoGPTQ writes and transformers / vLLM load): config.json with quantization_config, the same
 * in quantize_config.json, packed safetensors, the tokenizer files. Round-to-nearest today; GPTQ
 * proper (calibration, error feedback) plugs in as another ProjectionQuantizer.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKPOINT_SIDE_FILES, prepareOutputDir } from '../checkpoint-files.js';
import { loadModelSpec } from '../config.js';
import { ModelLoadError } from '../errors.js';
import { DEFAULT_MAX_SHARD_BYTES } from '../merge-lora.js';
import { SafetensorsCheckpoint } from '../safetensors.js';
import { SafetensorsWriter, type TensorPlan } from '../safetensors-writer.js';
import { GptqCheckpointView, gptqQuantizationConfig } from './gptq-checkpoint.js';
import type { QuantBits } from './quant-config.js';
import { quantizeRtn, type QuantGrid } from './rtn.js';

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
  onTensor?: (done: number, total: number) => void;
}

export function quantizeCheckpoint(options: QuantizeCheckpointOptions): { numTensors: number; bytes: number } {
  if (options.method !== 'rtn') throw new ModelLoadError(`--quant-method ${options.method} is not implemented yet (rtn is)`);
  const spec = loadModelSpec(options.modelDir);
  if (spec.quantization) throw new ModelLoadError(`${options.modelDir} is already quantized (${spec.quantization.method})`);
  const grid: QuantGrid = { bits: options.bits, groupSize: options.groupSize, sym: true };
  const dense = SafetensorsCheckpoint.open(options.modelDir);
  let writer: SafetensorsWriter | undefined;
  try {
    prepareOutputDir(options.outputDir, [options.modelDir], "the model's");
    const view = new GptqCheckpointView(spec, dense, grid, (weights, shape) => quantizeRtn(weights, shape, grid));
    const plan: TensorPlan[] = view.names().map((name) => ({ name, ...view.info(name) }));
    writer = new SafetensorsWriter(options.outputDir, plan, options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
    const order = writer.order();
    for (const [i, { name }] of order.entries()) {
      writer.write(name, view.read(name).bytes);
      options.onTensor?.(i + 1, order.length);
    }
    writer.finish();
    const quantizationConfig = gptqQuantizationConfig(grid, false);
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
