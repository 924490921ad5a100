/**
 * The CPU addon's weight seam (native/cpu/addon.cc setTensor, model.cc setTensor/checkComplete):
 * canonical tensors by (layer, slot) only, each error naming the slot and the layer, never a
 * checkpoint name; finishLoading names the first slot never set.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalTensors } from '../src/model/arch/checkpoint.js';
import { randomModel } from '../src/model/random-weights.js';
import { nativeTensorOf } from '../src/model/weight-formats/registry.js';
import { loadCpuAddon, type NativeCpuModel } from '../src/runtime/cpu/native.js';
import { MODEL_LAYER, type NativeTensor, type Slot } from '../src/model/layout.js';
import { nativeModelShape } from '../src/runtime/native-shape.js';

// qwen3-tiny: hidden 64, 4 heads and 2 KV heads of 32 (qkv rows 256), tied embedding, q/k norm.
const { spec, source } = randomModel('qwen3-tiny', { numLayers: 2, dtype: 'float32' });

function newModel(): NativeCpuModel {
  return new (loadCpuAddon().CpuModel)({ ...nativeModelShape(spec), maxTokensPerChunk: 16, numKvBlocks: 4, maxLoras: 0, maxLoraRank: 0, numThreads: 1 });
}

const failsWith = (message: RegExp) => (e: unknown): boolean => e instanceof Error && message.test(e.message);

function dense(shape: number[]): NativeTensor {
  return { format: 'float32', shape, buffers: { weight: new Uint8Array(shape.reduce((a, b) => a * b, 1) * 4) } };
}

describe('setTensor refuses what does not fit, naming slot and layer', () => {
  const cases: [string, number, string, NativeTensor, RegExp][] = [
    ['a wrong shape', 0, 'qkv', dense([1, 64]), /^tensor qkv of layer 0: shape \[1, 64\], expected \[256, 64\]$/],
    ['a layer past the last', 2, 'o', dense([64, 128]), /^tensor o of layer 2: the model has 2 layers$/],
    ['a model-level slot with a layer', 0, 'embedding', dense([1000, 64]), /^tensor embedding: a model-level slot takes layer -1$/],
    ['the lm_head of a tied model', MODEL_LAYER, 'lmHead', dense([1000, 64]), /^tensor lmHead: this model has no such tensor$/],
    ['a bias the model does not have', 1, 'qkvBias', dense([256]), /^tensor qkvBias of layer 1: this model has no such tensor$/],
    ['an unknown weight format', 0, 'gateUp', { format: 'int3', shape: [192, 64], buffers: {} }, /^tensor gateUp of layer 0: the CPU runner has no weight format "int3" \(known: bfloat16, float16, float32, int8, int4\)$/],
    ['a buffer that does not fit the shape', 1, 'down', { ...dense([64, 96]), buffers: { weight: new Uint8Array(12) } }, /^tensor down of layer 1: weight buffer is 12 bytes/],
    ['a dense tensor without its buffer', 0, 'inputNorm', { format: 'float32', shape: [64], buffers: {} }, /^tensor inputNorm of layer 0: format float32 needs a buffer "weight"$/],
    ['a checkpoint name', MODEL_LAYER, 'model.embed_tokens.weight', dense([1000, 64]), /^unknown weight slot "model\.embed_tokens\.weight"$/],
  ];
  for (const [label, layer, slot, tensor, message] of cases) {
    test(label, () => {
      const model = newModel();
      try {
        assert.throws(() => model.setTensor(layer, slot as Slot, tensor), failsWith(message));
      } finally {
        model.dispose();
      }
    });
  }
});

test('finishLoading names the first slot never set, and passes once every slot is', () => {
  const model = newModel();
  try {
    for (const { ref, tensor } of canonicalTensors(spec, source)) {
      if (ref.slot !== 'kNorm' || ref.layer !== 1) model.setTensor(ref.layer, ref.slot, nativeTensorOf(ref.slot, tensor));
    }
    assert.throws(() => model.finishLoading(), failsWith(/^missing tensor kNorm of layer 1$/));
    model.setTensor(1, 'kNorm', dense([32]));
    model.finishLoading();
  } finally {
    model.dispose();
  }
});
