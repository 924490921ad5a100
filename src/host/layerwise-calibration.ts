/**
 * Calibration of a whole model on the CPU runner, layer by layer (GPTQ's and AWQ's sequential
 * order): the calibration sequences run through the model while layer l's linear inputs are
 * summed (X^T X per linear slot); `quantizeLayer` turns those sums into l's quantized weights and
 * returns what they stand for (dense `.weight` tensors by checkpoint name), which replace l's
 * weights in the runner before layer l + 1 is calibrated, so each layer sees the inputs the
 * quantized layers before it produce.
 */
import { LLMEngine } from '../engine/engine.js';
import { NO_TEXT_TOKENIZER } from '../engine/engine-tokenizer.js';
import { SamplingParams } from '../engine/sampling-params.js';
import { CpuRunner, kvBytesPerBlock } from '../runtime/cpu/cpu-runner.js';
import type { LinearInputGrams } from '../runtime/cpu/native.js';
import { readSlot } from '../model/arch/checkpoint.js';
import { KV_BLOCK_SIZE, type LinearSlot } from '../model/layout.js';
import type { ModelSpec } from '../model/spec.js';
import type { TensorData } from '../model/tensors.js';
import type { NamedSource } from '../model/quant/quantized-checkpoint.js';

export interface CalibrationOptions {
  /** Token ids of each calibration sequence. */
  sequences: number[][];
  numThreads?: number;
  /** After each layer is quantized. */
  onLayer?: (done: number, total: number) => void;
}

/** Layer `layer`'s quantization from its input sums: the dense tensors its quantized weights stand for, by checkpoint name. */
export type LayerQuantizer = (layer: number, grams: LinearInputGrams) => ReadonlyMap<string, TensorData>;

export const LINEAR_SLOTS: readonly LinearSlot[] = ['qkv', 'o', 'gateUp', 'down'];

/** Runs every sequence as one prompt (one token sampled, not used). */
async function runSequences(engine: LLMEngine, sequences: number[][], pass: number): Promise<void> {
  const params = new SamplingParams({ maxTokens: 1, temperature: 0, ignoreEos: true });
  await Promise.all(
    sequences.map(async (promptTokenIds, i) => {
      for await (const _ of engine.add({ requestId: `calibration-${pass}-${i}`, promptTokenIds, params })) {
        // the step ran; the sums are in the runner
      }
    }),
  );
}

/** `dense` with some tensors replaced (a layer's projections by what their codes stand for). */
export function overlay(dense: NamedSource, replaced: ReadonlyMap<string, TensorData>): NamedSource {
  return {
    names: () => dense.names(),
    has: (name) => replaced.has(name) || dense.has(name),
    info: (name) => replaced.get(name) ?? dense.info(name),
    read: (name) => replaced.get(name) ?? dense.read(name),
  };
}

export async function calibrateLayerByLayer(spec: ModelSpec, dense: NamedSource, options: CalibrationOptions, quantizeLayer: LayerQuantizer): Promise<void> {
  const longest = Math.max(...options.sequences.map((s) => s.length));
  const blocksPerSequence = Math.ceil((longest + 1) / KV_BLOCK_SIZE);
  const runner = CpuRunner.load(spec, dense, {
    kvCacheBytes: options.sequences.length * blocksPerSequence * kvBytesPerBlock(spec),
    maxLoras: 0,
    maxLoraRank: 0,
    ...(options.numThreads !== undefined ? { numThreads: options.numThreads } : {}),
  });
  const engine = new LLMEngine(runner, NO_TEXT_TOKENIZER, { maxModelLen: longest + 1, enablePrefixCaching: false });
  try {
    for (let layer = 0; layer < spec.numLayers; layer++) {
      runner.captureInputGrams(layer);
      await runSequences(engine, options.sequences, layer);
      const source = overlay(dense, quantizeLayer(layer, runner.inputGrams()));
      for (const slot of LINEAR_SLOTS) runner.replaceLinear(layer, slot, readSlot(spec, source, { layer, slot }));
      options.onLayer?.(layer + 1, spec.numLayers);
    }
  } finally {
    runner.dispose();
  }
}
