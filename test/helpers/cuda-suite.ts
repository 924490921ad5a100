/**
 * What every CUDA test file starts with: the suite's skip reason where CUDA is unusable, unless
 * SWIFTLET_REQUIRE_CUDA=1 (scripts/gpu-check.sh) makes that a failing test instead of a silent skip;
 * and the tiny-qwen2 fixture loaded on the GPU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModelSpec } from '../../src/model/config.js';
import { SafetensorsCheckpoint } from '../../src/model/safetensors.js';
import { CudaRunner } from '../../src/runtime/cuda/cuda-runner.js';
import { cudaAvailability } from '../../src/runtime/cuda/native.js';
import { modelDir } from './reference.js';

/** false where CUDA is usable, else why the suite is skipped; registers the required-CUDA check. */
export function cudaSuiteSkip(): string | false {
  const availability = cudaAvailability();
  if (process.env['SWIFTLET_REQUIRE_CUDA'] === '1') {
    test('CUDA is usable (SWIFTLET_REQUIRE_CUDA=1)', () => assert.ok(availability.available, availability.available ? '' : availability.reason));
  }
  return availability.available ? false : `CUDA unavailable: ${availability.reason}`;
}

/** tiny-qwen2 on the GPU: 64 MiB of KV cache, 16 sequences, 4096 tokens per step and of context. */
export function openTinyQwen2Cuda(): CudaRunner {
  const checkpoint = SafetensorsCheckpoint.open(modelDir);
  try {
    return CudaRunner.load(loadModelSpec(modelDir), checkpoint, { kvCacheBytes: 64 << 20, maxNumSeqs: 16, maxNumTokens: 4096, maxModelLen: 4096 });
  } finally {
    checkpoint.close();
  }
}
