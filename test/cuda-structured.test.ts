/**
 * The token-bitmask contract on the CUDA runner (tiny-qwen2): the same checks as the CPU runner's,
 * through the eager path (a prefill step) and the decode graph (a decode step). Skipped where CUDA
 * is unusable, unless SWIFTLET_REQUIRE_CUDA=1, which makes that a failure. The engine-level checks
 * run on the GPU with SWIFTLET_TEST_DEVICE=cuda (test/structured-engine.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CudaRunner } from '../src/runtime/cuda/cuda-runner.js';
import { cudaSuiteSkip, openTinyQwen2Cuda } from './helpers/cuda-suite.js';
import { reference } from './helpers/reference.js';
import { checkMalformedTokenBitmask, checkTokenBitmask } from './helpers/token-bitmask-checks.js';

describe('CUDA runner token bitmask (tiny-qwen2)', { skip: cudaSuiteSkip() }, () => {
  let runner: CudaRunner;
  before(() => {
    runner = openTinyQwen2Cuda();
  });
  after(() => runner?.dispose());

  test('a token bitmask constrains its row\'s sampling and logprobs only, eager and graph steps', async () => {
    const [a, b] = [reference.chat[0], reference.raw[1]];
    assert.ok(a && b);
    await checkTokenBitmask(runner, [a.prompt_ids, b.prompt_ids], [(a.output_ids[0] as number) + 1, 17, 4242]);
  });

  test('a malformed token bitmask is rejected naming the field', () => checkMalformedTokenBitmask(runner));
  test('a malformed late token bitmask, or a failing one, fails its step naming why', () => checkMalformedTokenBitmask(runner, 'late'));
});
