/**
 * The architecture modules (src/model/arch/) and the canonical layout (src/model/layout.ts):
 * config.json switches per family, checkpoint names -> (layer, slot) with q/k/v and gate/up
 * fused in row order, missing or mismatched checkpoint tensors named, LoRA module names both
 * ways, random checkpoints that agree with the slot shapes, and the dense weight formats.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalTensors, checkWeights, readSlot, requiredTensorNames } from '../src/model/arch/checkpoint.js';
import { architectureNamed, architectureOf, SUPPORTED_ARCHITECTURES } from '../src/model/arch/registry.js';
import { specFromConfig } from '../src/model/config.js';
import { ModelLoadError } from '../src/model/errors.js';
import { randomModel, randomModelConfig } from '../src/model/random-weights.js';
import type { ModelSpec } from '../src/model/spec.js';
import { nativeTensorOf, weightFormatOf } from '../src/model/weight-formats/registry.js';
import { MODEL_LAYER, PROJECTIONS, requiredSlots, slotShape, type SlotRef } from '../src/model/layout.js';
import type { TensorData, WeightSource } from '../src/runtime/types.js';

const llamaConfig = (extra: Record<string, unknown> = {}) => ({ ...randomModelConfig('llama-tiny'), ...extra });
const qwen3Spec = (): ModelSpec => randomModel('qwen3-tiny', { numLayers: 2 }).spec;

/** A checkpoint in memory: tensor i of `names` holds rows whose first byte is its index (so row order is visible). */
function taggedSource(names: string[], shapeOf: (name: string) => number[]): WeightSource & { tensors: Map<string, TensorData> } {
  const tensors = new Map<string, TensorData>();
  names.forEach((name, i) => {
    const shape = shapeOf(name);
    const bytes = new Uint8Array(shape.reduce((a, b) => a * b, 1) * 4).fill(i % 256);
    tensors.set(name, { dtype: 'float32', shape, bytes });
  });
  return {
    tensors,
    has: (name) => tensors.has(name),
    read: (name) => tensors.get(name) ?? assert.fail(`read of missing ${name}`),
  };
}

describe('the registry', () => {
  test('every architectures[0] string loads as its family', () => {
    const want: Record<string, ModelSpec['family']> = {
      LlamaForCausalLM: 'llama', MistralForCausalLM: 'llama', YiForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2', Qwen3ForCausalLM: 'qwen3',
      QWenLMHeadModel: 'qwen', ChatGLMModel: 'chatglm',
    };
    assert.deepEqual([...SUPPORTED_ARCHITECTURES].sort(), Object.keys(want).sort());
    for (const [name, family] of Object.entries(want)) assert.equal(architectureNamed(name).family, family);
  });
  test('an unknown architecture is a ModelLoadError listing the supported ones', () => {
    assert.throws(() => architectureNamed('GPT2LMHeadModel'), (e: unknown) => e instanceof ModelLoadError && /"GPT2LMHeadModel"; supported: LlamaForCausalLM/.test(e.message));
    assert.throws(() => specFromConfig(llamaConfig({ architectures: [] })), /"\(none in config.json\)"/);
  });
});

describe('config.json switches, per family', () => {
  test('llama: attention_bias gives q/k/v and o biases, mlp_bias the MLP ones', () => {
    const spec = specFromConfig(llamaConfig({ attention_bias: true, mlp_bias: false }));
    assert.deepEqual([spec.qkvBias, spec.oBias, spec.mlpBias, spec.qkNorm], [true, true, false, false]);
    const plain = specFromConfig(llamaConfig({ attention_bias: false, mlp_bias: true, architectures: ['MistralForCausalLM'] }));
    assert.deepEqual([plain.family, plain.qkvBias, plain.oBias, plain.mlpBias], ['llama', false, false, true]);
  });
  test('qwen2 always has a q/k/v bias; qwen3 has q/k norm and a q/k/v bias only with attention_bias', () => {
    const qwen2 = specFromConfig({ ...randomModelConfig('qwen2.5-0.5b'), attention_bias: false });
    assert.deepEqual([qwen2.qkvBias, qwen2.oBias, qwen2.mlpBias, qwen2.qkNorm], [true, false, false, false]);
    const qwen3 = specFromConfig(randomModelConfig('qwen3-tiny'));
    assert.deepEqual([qwen3.qkvBias, qwen3.qkNorm], [false, true]);
    assert.equal(specFromConfig({ ...randomModelConfig('qwen3-tiny'), attention_bias: true }).qkvBias, true);
  });
});

describe('checkpoint names -> canonical slots', () => {
  const spec = specFromConfig(llamaConfig());
  const { checkpoint } = architectureOf(spec);
  test('fused slots list their projections in row order; the rest are renames', () => {
    const cases: [SlotRef, string[]][] = [
      [{ layer: MODEL_LAYER, slot: 'embedding' }, ['model.embed_tokens.weight']],
      [{ layer: MODEL_LAYER, slot: 'lmHead' }, ['lm_head.weight']],
      [{ layer: MODEL_LAYER, slot: 'finalNorm' }, ['model.norm.weight']],
      [{ layer: 1, slot: 'qkv' }, ['q_proj', 'k_proj', 'v_proj'].map((p) => `model.layers.1.self_attn.${p}.weight`)],
      [{ layer: 1, slot: 'qkvBias' }, ['q_proj', 'k_proj', 'v_proj'].map((p) => `model.layers.1.self_attn.${p}.bias`)],
      [{ layer: 0, slot: 'gateUp' }, ['model.layers.0.mlp.gate_proj.weight', 'model.layers.0.mlp.up_proj.weight']],
      [{ layer: 0, slot: 'downBias' }, ['model.layers.0.mlp.down_proj.bias']],
      [{ layer: 0, slot: 'postNorm' }, ['model.layers.0.post_attention_layernorm.weight']],
      [{ layer: 0, slot: 'kNorm' }, ['model.layers.0.self_attn.k_norm.weight']],
    ];
    for (const [ref, names] of cases) assert.deepEqual(checkpoint.tensorsOf(ref), names, `${ref.slot} of layer ${ref.layer}`);
  });

  test('a tied model needs no lm_head; the switches decide biases and q/k norms', () => {
    const names = requiredTensorNames(qwen3Spec());
    assert.ok(!names.includes('lm_head.weight'));
    assert.ok(names.includes('model.layers.1.self_attn.q_norm.weight'));
    assert.ok(!names.some((n) => n.endsWith('.bias')));
    assert.equal(requiredTensorNames(spec).filter((n) => n.endsWith('.bias')).length, 7 * spec.numLayers);
  });

  test('qkv is q rows, then k, then v, in one tensor of the slot shape', () => {
    const names = requiredTensorNames(spec);
    const { source } = randomModel('llama-tiny', { dtype: 'float32' });
    const tagged = taggedSource(names, (name) => source.shape(name));
    const qkv = readSlot(spec, tagged, { layer: 1, slot: 'qkv' });
    assert.deepEqual(qkv.shape, slotShape(spec, 'qkv'));
    const rowBytes = spec.hiddenSize * 4;
    const [q, kv] = [spec.numHeads * spec.headDim, spec.numKvHeads * spec.headDim];
    const tagOf = (part: string) => names.indexOf(`model.layers.1.self_attn.${part}.weight`);
    for (const [row, part] of [[0, 'q_proj'], [q - 1, 'q_proj'], [q, 'k_proj'], [q + kv - 1, 'k_proj'], [q + kv, 'v_proj'], [q + 2 * kv - 1, 'v_proj']] as const) {
      assert.equal(qkv.bytes[row * rowBytes], tagOf(part), `row ${row} is ${part}'s`);
    }
  });

  test('a missing tensor is named, before anything is read', () => {
    const { source } = randomModel('llama-tiny');
    const hidden = 'model.layers.1.self_attn.k_proj.weight';
    const partial: WeightSource = { has: (n) => n !== hidden && source.has(n), read: () => assert.fail('read before the check') };
    assert.throws(() => checkWeights(spec, partial), new RegExp(`missing tensor\\(s\\) for LlamaForCausalLM: ${hidden.replaceAll('.', '\\.')}`));
    assert.throws(() => canonicalTensors(spec, partial), /k_proj\.weight/);
  });

  test('parts of one slot with different dtypes or widths are refused, naming both tensors', () => {
    const { source } = randomModel('llama-tiny', { dtype: 'bfloat16' });
    const k = 'model.layers.0.self_attn.k_proj.weight';
    const f32: WeightSource = { has: (n) => source.has(n), read: (n) => (n === k ? { ...source.read(n), dtype: 'float32' } : source.read(n)) };
    assert.throws(() => readSlot(spec, f32, { layer: 0, slot: 'qkv' }), /"model\.layers\.0\.self_attn\.k_proj\.weight" is float32, but "model\.layers\.0\.self_attn\.q_proj\.weight", fused with it into qkv of layer 0, is bfloat16/);
    const narrow: WeightSource = { has: (n) => source.has(n), read: (n) => (n === k ? { ...source.read(n), shape: [1, 2] } : source.read(n)) };
    assert.throws(() => readSlot(spec, narrow, { layer: 0, slot: 'qkv' }), /rows do not line up/);
  });
});

describe('random checkpoints agree with the canonical layout', () => {
  for (const shape of ['llama-tiny', 'qwen3-tiny']) {
    test(shape, () => {
      const { spec, source } = randomModel(shape, { numLayers: 2 });
      let count = 0;
      for (const { ref, tensor } of canonicalTensors(spec, source)) {
        assert.deepEqual(tensor.shape, slotShape(spec, ref.slot), `${ref.slot} of layer ${ref.layer}`);
        count++;
      }
      assert.equal(count, requiredSlots(spec).length);
    });
  }
});

describe('LoRA module names', () => {
  const { checkpoint } = architectureOf(qwen3Spec());
  test('every projection round-trips', () => {
    for (const projection of PROJECTIONS) {
      const name = checkpoint.loraModuleName(3, projection);
      assert.deepEqual(checkpoint.parseLoraModuleName(name), { layer: 3, projections: [projection] });
    }
    assert.equal(checkpoint.loraModuleName(2, 'gate_proj'), 'model.layers.2.mlp.gate_proj');
  });
  test('anything else is no projection', () => {
    for (const name of ['model.embed_tokens', 'model.layers.0.self_attn.q_norm', 'lm_head', 'model.layers.x.mlp.up_proj']) {
      assert.equal(checkpoint.parseLoraModuleName(name), undefined, name);
    }
  });
});

describe('dense weight formats', () => {
  const tensor: TensorData = { dtype: 'bfloat16', shape: [2, 2], bytes: new Uint8Array(8) };
  test('a linear slot crosses in its dtype\'s format, buffer `weight`; so does everything else', () => {
    assert.equal(weightFormatOf(tensor).name, 'bfloat16');
    for (const slot of ['qkv', 'inputNorm'] as const) {
      assert.deepEqual(nativeTensorOf(slot, tensor), { format: 'bfloat16', shape: [2, 2], buffers: { weight: tensor.bytes } });
    }
  });
  test('an unknown storage type has no format', () => {
    assert.throws(() => weightFormatOf({ ...tensor, dtype: 'int4' as TensorData['dtype'] }), /no weight format for int4 tensors \(known: bfloat16, float16, float32\)/);
  });
});
