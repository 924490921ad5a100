/** The floor arithmetic of bench/gpu-bench.ts, on made-up peaks and a toy shape worked by hand. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeStepFloorSeconds, kvBytesPerToken, prefillFlops, weightBytesPerDecodeStep, workloadFloor, type FloorShape } from '../bench/workload-floor.js';
import { specFromConfig } from '../src/model/config.js';
import { randomModelConfig } from '../src/model/random-weights.js';

// One layer: q/k/v 4 x (2 + 2) x 2 = 32, o 2 x 2 x 4 = 16, gate/up/down 3 x 4 x 8 = 96 -> 144 weights; lm_head 10 x 4 = 40.
const TOY: FloorShape = { vocabSize: 10, hiddenSize: 4, intermediateSize: 8, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 2 };
const SLOW_COPY = { gemmFlopsPerSecond: 1000, copyBytesPerSecond: 100 };

test('a decode step reads every weight once and each sequence\'s KV, at copy bandwidth', () => {
  assert.equal(weightBytesPerDecodeStep(TOY), (144 + 40) * 2);
  assert.equal(kvBytesPerToken(TOY), 1 * 2 * 1 * 2 * 2);
  // 368 weight bytes + 5 positions x 8 KV bytes, at 100 B/s.
  assert.equal(decodeStepFloorSeconds(TOY, SLOW_COPY, [5]), 4.08);
  // Compute-bound instead: 2 x 184 weights + attention 4 x 2 heads x 2 dims x 5 positions = 448 FLOPs at 100 FLOP/s.
  assert.ok(Math.abs(decodeStepFloorSeconds(TOY, { gemmFlopsPerSecond: 100, copyBytesPerSecond: 100 }, [5]) - 4.48) < 1e-12);
});

test('tensor parallelism: rank 0 holds half of each layer and of the KV, and the whole lm_head', () => {
  assert.equal(weightBytesPerDecodeStep(TOY, 2), (72 + 40) * 2);
  assert.equal(kvBytesPerToken(TOY, 2), 4);
});

test('a workload is its prompts at the GEMM peak plus every decode step of all requests together', () => {
  // Prefill of 3 tokens: 2 x 144 x 3 + attention over 1 + 2 + 3 positions (4 x 2 x 2 x 6) + the lm_head once (2 x 40).
  assert.equal(prefillFlops(TOY, 3), 864 + 96 + 80);
  const floor = workloadFloor(TOY, SLOW_COPY, { requests: 2, promptLen: 3, genLen: 3 });
  assert.ok(Math.abs(floor.prefillSeconds - 2.08) < 1e-12);
  // Steps at contexts 4 and 5 for both requests: (368 + 2 x 4 x 8) / 100 + (368 + 2 x 5 x 8) / 100.
  assert.ok(Math.abs(floor.decodeSeconds - 8.8) < 1e-12);
  assert.ok(Math.abs(floor.totalSeconds - 10.88) < 1e-12);
  assert.ok(Math.abs(floor.decodeMsPerStep - 4400) < 1e-9);
  const faster = workloadFloor(TOY, { gemmFlopsPerSecond: 2000, copyBytesPerSecond: 200 }, { requests: 2, promptLen: 3, genLen: 3 });
  assert.ok(Math.abs(faster.totalSeconds - floor.totalSeconds / 2) < 1e-12, 'twice the peaks, half the floor');
});

test('the 7B shape: a decode step reads the 15.2 GB checkpoint (../shared/BENCHMARKS.md) but its untied embedding table', () => {
  const spec = specFromConfig(randomModelConfig('qwen2.5-7b'));
  const embeddingBytes = spec.vocabSize * spec.hiddenSize * 2;
  const checkpointBytes = weightBytesPerDecodeStep(spec) + embeddingBytes;
  assert.ok(Math.abs(checkpointBytes / 1e9 - 15.2) < 0.05, `${checkpointBytes / 1e9} GB`);
});
