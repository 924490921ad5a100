/**
 * Prompt-lookup speculation on the CUDA runner reproduces plain greedy decoding token for token
 * at batch 1 (tiny-qwen2, random weights: many near-ties, so any difference in rounding between
 * the verify step and the plain step shows). The verify rows take the decode attention kernel
 * (step_plan's split of short queries) and the same GEMV as a one-row step. Skipped where CUDA is
 * unusable, unless SWIFTLET_REQUIRE_CUDA=1, which makes that a failure.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LLMEngine } from '../src/engine/engine.js';
import { SamplingParams } from '../src/engine/sampling-params.js';
import type { CudaRunner } from '../src/runtime/cuda/cuda-runner.js';
import { cudaSuiteSkip, openTinyQwen2Cuda } from './helpers/cuda-suite.js';
import { FakeTokenizer } from './helpers/fake-runner.js';
import { reference } from './helpers/reference.js';

describe('CUDA prompt-lookup speculation (tiny-qwen2)', { skip: cudaSuiteSkip() }, () => {
  let runner: CudaRunner;
  before(() => {
    runner = openTinyQwen2Cuda();
  });
  after(() => runner?.dispose());

  /** Each prompt alone (batch 1), greedy, 96 tokens; the engine's stats say how many drafts it accepted. */
  async function decodeOneByOne(engine: LLMEngine): Promise<number[][]> {
    const outputs: number[][] = [];
    for (const [i, r] of [...reference.chat, ...reference.raw].entries()) {
      const params = new SamplingParams({ temperature: 0, maxTokens: 96, ignoreEos: true });
      const [result] = await engine.generate([{ requestId: `r${i}`, promptTokenIds: r.prompt_ids, params }]);
      outputs.push(result?.outputs[0]?.tokenIds ?? []);
    }
    return outputs;
  }

  test('greedy tokens with 3 drafts per step equal plain decoding at batch 1', async () => {
    const config = { maxNumSeqs: 16, maxNumBatchedTokens: 512, maxModelLen: 4096, enablePrefixCaching: false };
    const plain = await decodeOneByOne(new LLMEngine(runner, new FakeTokenizer(200000), config));
    const speculative = new LLMEngine(runner, new FakeTokenizer(200000), {
      ...config,
      speculative: { method: 'ngram', numSpeculativeTokens: 3, promptLookupMax: 3, promptLookupMin: 1 },
    });
    const drafted = await decodeOneByOne(speculative);
    const stats = speculative.stats();
    console.log(`# ${stats.numAcceptedDraftTokensTotal} of ${stats.numDraftTokensTotal} drafts accepted`);
    assert.ok(stats.numAcceptedDraftTokensTotal > 0, 'no draft was accepted: the test would not exercise verify rows');
    drafted.forEach((tokens, i) => assert.deepEqual(tokens, plain[i], `prompt ${i}`));
  });
});
