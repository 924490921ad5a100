/** What the quantization tests share: a seeded random source and the held-text logprobs of a checkpoint on the CPU. */
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { createRunner } from '../../src/runtime/create-runner.js';
import { teacherForced } from './cpu-reference.js';

/** xorshift32 in [0, 1): the same inputs on every run, so a failure reproduces. */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

/** A standard normal sample (Box-Muller) from `uniform`. */
export function gaussianFrom(uniform: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

/** Every next-token logprob of `texts` (tokenized with `tokenizerDir`'s tokenizer) under the checkpoint in `dir`. */
export async function heldLogprobs(dir: string, tokenizerDir: string, texts: string[]): Promise<number[]> {
  const tokenizer = await loadTokenizer(tokenizerDir);
  const runner = await createRunner({ modelDir: dir, device: 'cpu', kvCacheBytes: 8 << 20, maxLoras: 0, maxLoraRank: 0, numThreads: 2 });
  try {
    const out = await teacherForced(runner, texts.map((text) => ({ ids: tokenizer.encode(text), positions: [], next_top: [] })));
    return [...out.positionTargetLogprobs].filter(Number.isFinite);
  } finally {
    runner.dispose();
  }
}

export const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

/** Calibration inputs x [samples, inputs] and one layer's weights [rows, inputs]: the inputs' sum of x x^T, and ||x (W - Q)^T||^2 of quantized weights Q. */
export function layerOnInputs(x: Float64Array, weights: Float32Array, inputs: number): { gram: Float64Array; outputError(q: Float32Array): number } {
  const samples = x.length / inputs;
  const rows = weights.length / inputs;
  const gram = new Float64Array(inputs * inputs);
  for (let s = 0; s < samples; s++) for (let i = 0; i < inputs; i++) for (let j = 0; j < inputs; j++) gram[i * inputs + j]! += x[s * inputs + i]! * x[s * inputs + j]!;
  return {
    gram,
    outputError(q) {
      let sum = 0;
      for (let s = 0; s < samples; s++) {
        for (let r = 0; r < rows; r++) {
          let d = 0;
          for (let c = 0; c < inputs; c++) d += x[s * inputs + c]! * (weights[r * inputs + c]! - q[r * inputs + c]!);
          sum += d * d;
        }
      }
      return sum;
    },
  };
}
