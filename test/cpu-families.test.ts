/**
 * Every family switch of the native forward pass (Qwen3 q/k norm and head_dim, Llama with
 * untied lm_head, attention and MLP biases, llama3 rope scaling; bf16, fp16 and fp32 weights)
 * against a plain float64 forward pass written here, on tiny random models.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { randomModel, writeRandomCheckpoint } from '../src/model/random-weights.js';
import { ropeTables } from '../src/model/rope.js';
import { toFloat32 } from '../src/model/safetensors.js';
import type { ModelSpec, WeightDtype } from '../src/model/spec.js';
import { CpuRunner, kvBytesPerBlock } from '../src/runtime/cpu/cpu-runner.js';
import { buildStepBatch, ManualBlockPool, ManualSequence } from './helpers/manual-batch.js';
import { createRunner } from '../src/runtime/create-runner.js';
import type { ModelRunner, WeightSource } from '../src/runtime/types.js';

type Vec = Float64Array;

function rmsNorm(x: Vec, w: Float32Array, eps: number): Vec {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * (w[i] ?? 0));
}

function linear(x: Vec, w: Float32Array, out: number, bias?: Float32Array): Vec {
  const y = new Float64Array(out);
  const K = x.length;
  for (let o = 0; o < out; o++) {
    let s = bias?.[o] ?? 0;
    for (let k = 0; k < K; k++) s += (w[o * K + k] ?? 0) * (x[k] ?? 0);
    y[o] = s;
  }
  return y;
}

/** Log-softmax at every position of `ids`, in float64. */
function referenceLogprobs(spec: ModelSpec, source: WeightSource, ids: number[]): Vec[] {
  const get = (name: string) => toFloat32(source.read(name));
  const has = (name: string) => source.has(name);
  const { invFreq, attentionScale, rotaryDim } = ropeTables(spec);
  const H = spec.hiddenSize, hd = spec.headDim, nh = spec.numHeads, nkv = spec.numKvHeads, I = spec.intermediateSize;
  const embed = get('model.embed_tokens.weight');
  let xs: Vec[] = ids.map((id) => Float64Array.from(embed.subarray(id * H, (id + 1) * H)));
  const rope = (v: Vec, pos: number) => {
    const half = rotaryDim / 2;
    for (let i = 0; i < half; i++) {
      const angle = pos * (invFreq[i] ?? 0);
      const c = Math.cos(angle) * attentionScale, s = Math.sin(angle) * attentionScale;
      const a = v[i] ?? 0, b = v[i + half] ?? 0;
      v[i] = a * c - b * s;
      v[i + half] = b * c + a * s;
    }
  };
  for (let l = 0; l < spec.numLayers; l++) {
    const p = `model.layers.${l}`;
    const w = (n: string) => get(`${p}.${n}`);
    const b = (n: string) => (has(`${p}.${n}`) ? get(`${p}.${n}`) : undefined);
    const qs: Vec[][] = [], ks: Vec[][] = [], vs: Vec[][] = [];
    xs.forEach((x, pos) => {
      const xn = rmsNorm(x, w('input_layernorm.weight'), spec.rmsNormEps);
      const q = linear(xn, w('self_attn.q_proj.weight'), nh * hd, b('self_attn.q_proj.bias'));
      const k = linear(xn, w('self_attn.k_proj.weight'), nkv * hd, b('self_attn.k_proj.bias'));
      const v = linear(xn, w('self_attn.v_proj.weight'), nkv * hd, b('self_attn.v_proj.bias'));
      const heads = (t: Vec, n: number, norm?: string) =>
        Array.from({ length: n }, (_, h) => {
          let head: Vec = t.slice(h * hd, (h + 1) * hd);
          if (norm) head = rmsNorm(head, w(norm), spec.rmsNormEps);
          rope(head, pos);
          return head;
        });
      qs.push(heads(q, nh, spec.qkNorm ? 'self_attn.q_norm.weight' : undefined));
      ks.push(heads(k, nkv, spec.qkNorm ? 'self_attn.k_norm.weight' : undefined));
      vs.push(Array.from({ length: nkv }, (_, h) => v.slice(h * hd, (h + 1) * hd)));
    });
    xs = xs.map((x, pos) => {
      const attn = new Float64Array(nh * hd);
      for (let h = 0; h < nh; h++) {
        const g = Math.floor(h / (nh / nkv));
        const q = qs[pos]![h]!;
        const scores = Array.from({ length: pos + 1 }, (_, j) => ks[j]![g]!.reduce((s, kv, d) => s + kv * (q[d] ?? 0), 0) / Math.sqrt(hd));
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const sum = e.reduce((a, c) => a + c, 0);
        for (let j = 0; j <= pos; j++) for (let d = 0; d < hd; d++) attn[h * hd + d]! += ((e[j] ?? 0) / sum) * (vs[j]![g]![d] ?? 0);
      }
      const o = linear(attn, w('self_attn.o_proj.weight'), H, b('self_attn.o_proj.bias'));
      const x1 = x.map((v, i) => v + (o[i] ?? 0));
      const xn = rmsNorm(x1, w('post_attention_layernorm.weight'), spec.rmsNormEps);
      const gate = linear(xn, w('mlp.gate_proj.weight'), I, b('mlp.gate_proj.bias'));
      const up = linear(xn, w('mlp.up_proj.weight'), I, b('mlp.up_proj.bias'));
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * (up[i] ?? 0));
      const down = linear(act, w('mlp.down_proj.weight'), H, b('mlp.down_proj.bias'));
      return x1.map((v, i) => v + (down[i] ?? 0));
    });
  }
  const head = spec.tieWordEmbeddings ? embed : get('lm_head.weight');
  return xs.map((x) => {
    const logits = linear(rmsNorm(x, get('model.norm.weight'), spec.rmsNormEps), head, spec.vocabSize);
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, v) => s + Math.exp(v - m), 0));
    return logits.map((v) => v - lse);
  });
}

async function nativeLogprobs(runner: ModelRunner, ids: number[]): Promise<{ target: Float32Array; top: Int32Array; topLp: Float32Array }> {
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const seq = new ManualSequence(ids);
  const tokenIndex = Int32Array.from(ids, (_, i) => i);
  const targetTokenId = Int32Array.from(ids, (_, i) => ids[i + 1] ?? -1);
  const out = await runner.execute(buildStepBatch(pool, [{ seq, numTokens: ids.length, sample: false }], { tokenIndex, targetTokenId, topK: 3 }));
  return { target: out.positionTargetLogprobs, top: out.positionTopTokenIds, topLp: out.positionTopLogprobs };
}

const cases: { shape: string; dtype: WeightDtype }[] = [
  { shape: 'qwen3-tiny', dtype: 'bfloat16' },
  { shape: 'llama-tiny', dtype: 'bfloat16' },
  { shape: 'llama-tiny', dtype: 'float16' },
  { shape: 'qwen3-tiny', dtype: 'float32' },
];

describe('native forward pass vs a float64 reference, per family', () => {
  for (const { shape, dtype } of cases) {
    test(`${shape} (${dtype})`, async () => {
      const { spec, source } = randomModel(shape, { dtype, std: 0.15, seed: 3 });
      const runner = CpuRunner.load(spec, source, { kvCacheBytes: 8 * kvBytesPerBlock(spec), maxLoras: 0, maxLoraRank: 0, maxTokensPerChunk: 16 });
      try {
        const ids = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % spec.vocabSize);
        const want = referenceLogprobs(spec, source, ids);
        const got = await nativeLogprobs(runner, ids);
        want.forEach((lp, i) => {
          const target = ids[i + 1];
          if (target !== undefined) assert.ok(Math.abs((got.target[i] ?? NaN) - (lp[target] ?? NaN)) < 1e-4, `${shape} position ${i}`);
          const best = lp.indexOf(Math.max(...lp));
          assert.ok(Math.abs((got.topLp[i * 3] ?? NaN) - (lp[best] ?? NaN)) < 1e-4, `${shape} top at ${i}`);
        });
      } finally {
        runner.dispose();
      }
    });
  }

  test('a written random checkpoint loads through createRunner with the same results', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swiftlet-random-'));
    const { spec, source } = writeRandomCheckpoint('qwen3-tiny', dir, { std: 0.15, seed: 3 });
    const fromFiles = await createRunner({ modelDir: dir, device: 'cpu', kvCacheBytes: 8 * kvBytesPerBlock(spec), maxLoras: 0, maxLoraRank: 0 });
    const inMemory = CpuRunner.load(spec, source, { kvCacheBytes: 8 * kvBytesPerBlock(spec), maxLoras: 0, maxLoraRank: 0 });
    const ids = [5, 6, 7, 8, 9, 10];
    assert.deepEqual(await nativeLogprobs(fromFiles, ids), await nativeLogprobs(inMemory, ids));
    fromFiles.dispose();
    inMemory.dispose();
  });
});
