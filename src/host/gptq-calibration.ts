/**
 * GPTQ over a whole model on the CPU runner, layer by layer (the paper's sequential order): the
 * calibration sequences run through the model while layer l's linear inputs are summed (X^T X per
 * linear slot), l's projections are quantized against H = 2 X^T X / n, and l's weights in the
 * runner are swapped for what their codes stand for before layer l + 1 is calibrated, so each
 * layer's Hessian sees the inputs the quantized layers before it produce.
 */
import { LLMEngine } from '../engine/engine.js';
import { NO_TEXT_TOKENIZER } from '../engine/engine-tokenizer.js';
import { SamplingParams } from '../engine/sampling-params.js';
import { CpuRunner, kvBytesPerBlock } from '../runtime/cpu/cpu-runner.js';
import type { LinearInputGrams } from '../runtime/cpu/native.js';
import { architectureOf } from '../model/arch/registry.js';
import { readSlot } from '../model/arch/checkpoint.js';
import { KV_BLOCK_SIZE, PROJECTIONS_OF_SLOT, projectionShape, type LinearSlot } from '../model/layout.js';
import { fromFloat32 } from '../model/safetensors-writer.js';
import { toFloat32 } from '../model/safetensors.js';
import type { ModelSpec } from '../model/spec.js';
import type { TensorData } from '../model/tensors.js';
import { dequantize, type QuantizedTensor } from '../model/weight-formats/quantized.js';
import type { NamedSource } from '../model/quant/gptq-checkpoint.js';
import { quantizeGptq, type GptqOptions } from '../model/quant/gptq.js';
import type { QuantGrid } from '../model/quant/rtn.js';

export interface GptqModelOptions {
  grid: QuantGrid;
  gptq: GptqOptions;
  /** Token ids of each calibration sequence. */
  sequences: number[][];
  numThreads?: number;
  /** After each layer is quantized. */
  onLayer?: (done: number, total: number) => void;
}

const LINEAR_SLOTS: readonly LinearSlot[] = ['qkv', 'o', 'gateUp', 'down'];

/** Runs every sequence as one prompt (one token sampled, not used). */
async function runSequences(engine: LLMEngine, sequences: number[][], pass: number): Promise<void> {
  const params = new SamplingParams({ maxTokens: 1, temperature: 0, ignoreEos: true });
  await Promise.all(
    sequences.map(async (promptTokenIds, i) => {
      for await (const _ of engine.add({ requestId: `gptq-${pass}-${i}`, promptTokenIds, params })) {
        // the step ran; the sums are in the runner
      }
    }),
  );
}

/** H = 2 X^T X / n of one linear slot's inputs. */
function hessianOf(grams: LinearInputGrams, slot: LinearSlot): Float64Array {
  const scale = 2 / Math.max(grams.rows, 1);
  return grams[slot].map((v) => v * scale);
}

/** `dense` with some tensors replaced (a layer's projections by their dequantized codes). */
function overlay(dense: NamedSource, replaced: ReadonlyMap<string, TensorData>): NamedSource {
  return {
    names: () => dense.names(),
    has: (name) => replaced.has(name) || dense.has(name),
    info: (name) => replaced.get(name) ?? dense.info(name),
    read: (name) => replaced.get(name) ?? dense.read(name),
  };
}

/** Every projection of `spec` quantized by GPTQ, by its checkpoint module name (`model.layers.0.self_attn.q_proj`). */
export async function gptqQuantizeModel(spec: ModelSpec, dense: NamedSource, options: GptqModelOptions): Promise<Map<string, QuantizedTensor>> {
  const { checkpoint } = architectureOf(spec);
  const longest = Math.max(...options.sequences.map((s) => s.length));
  const blocksPerSequence = Math.ceil((longest + 1) / KV_BLOCK_SIZE);
  const runner = CpuRunner.load(spec, dense, {
    kvCacheBytes: options.sequences.length * blocksPerSequence * kvBytesPerBlock(spec),
    maxLoras: 0,
    maxLoraRank: 0,
    ...(options.numThreads !== undefined ? { numThreads: options.numThreads } : {}),
  });
  const engine = new LLMEngine(runner, NO_TEXT_TOKENIZER, { maxModelLen: longest + 1, enablePrefixCaching: false });
  const quantized = new Map<string, QuantizedTensor>();
  try {
    for (let layer = 0; layer < spec.numLayers; layer++) {
      runner.captureInputGrams(layer);
      await runSequences(engine, options.sequences, layer);
      const grams = runner.inputGrams();
      const replaced = new Map<string, TensorData>();
      for (const slot of LINEAR_SLOTS) {
        const hessian = hessianOf(grams, slot);
        for (const projection of PROJECTIONS_OF_SLOT[slot]) {
          const module = checkpoint.loraModuleName(layer, projection);
          const shape = projectionShape(spec, projection);
          const tensor = quantizeGptq(toFloat32(dense.read(`${module}.weight`)), shape, hessian, options.grid, options.gptq);
          quantized.set(module, tensor);
          replaced.set(`${module}.weight`, { dtype: 'float32', shape, bytes: fromFloat32(dequantize(tensor), 'float32') });
        }
      }
      const source = overlay(dense, replaced);
      for (const slot of LINEAR_SLOTS) runner.replaceLinear(layer, slot, readSlot(spec, source, { layer, slot }));
      options.onLayer?.(layer + 1, spec.numLayers);
    }
  } finally {
    runner.dispose();
  }
  return quantized;
}
