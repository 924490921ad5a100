/**
 * The token-bitmask contract of a runner (StepBatch.tokenBitmask), shared by the CPU and CUDA
 * runner tests: a constrained row samples only allowed tokens and reports logprobs of the masked
 * distribution, in a prefill step and in a decode step (the CUDA graph path); other rows are
 * untouched; a malformed mask is rejected naming the field. The same holds for a mask that
 * arrives late (executeWithLateBitmask), which gives exactly the results of an early one.
 */
import assert from 'node:assert/strict';
import type { ModelRunner, StepBatch, StepOutput, TokenBitmask } from '../../src/runtime/types.js';
import { buildStepBatch, commitStep, GREEDY, ManualBlockPool, ManualSequence, type ManualSampling, type ManualStepEntry } from './manual-batch.js';

/** How a step's mask reaches the runner: with the batch, or late, after a delay that outlasts the forward pass. */
type MaskDelivery = 'early' | 'late';

const LATE_MASK_DELAY_MS = 30;

function executeWith(runner: ModelRunner, batch: StepBatch, mask: TokenBitmask | null, delivery: MaskDelivery): Promise<StepOutput> {
  if (delivery === 'early') return runner.execute({ ...batch, tokenBitmask: mask });
  const executeLate = runner.executeWithLateBitmask?.bind(runner);
  assert.ok(executeLate, 'the runner takes late masks');
  let isFillCalled = false;
  const step = executeLate(batch, async () => {
    isFillCalled = true;
    await new Promise((resolve) => setTimeout(resolve, LATE_MASK_DELAY_MS));
    return mask;
  });
  assert.ok(isFillCalled, 'the runner asks for the mask as soon as the step is under way');
  return step;
}

/** Row 0 allowed only `allowed`, row 1 free, in a step of the prompts (then, with `decode`, one more step of one token each). */
async function maskedStep(runner: ModelRunner, prompts: number[][], allowed: number[] | null, temperature: number, decode: boolean, delivery: MaskDelivery = 'early'): Promise<StepOutput> {
  const numWords = Math.ceil(runner.spec.vocabSize / 32);
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const sampling: ManualSampling = { ...GREEDY, temperature, seed: 5, numLogprobs: 5 };
  const seqs = prompts.map((ids) => new ManualSequence(ids, sampling));
  const entriesOf = (): ManualStepEntry[] => seqs.map((seq) => ({ seq, numTokens: seq.tokens.length - seq.numComputed, sample: true }));
  if (decode) {
    const prefill = entriesOf();
    commitStep(prefill, (await runner.execute(buildStepBatch(pool, prefill))).sampledTokenIds);
  }
  const batch = buildStepBatch(pool, entriesOf());
  let mask: TokenBitmask | null = null;
  if (allowed !== null) {
    const bitmask = new Uint32Array(prompts.length * numWords).fill(0xffffffff);
    bitmask.fill(0, 0, numWords);
    for (const id of allowed) bitmask[id >>> 5] = ((bitmask[id >>> 5] as number) | (1 << (id & 31))) >>> 0;
    mask = { numWords, bitmask, hasBitmask: Uint8Array.from(prompts, (_, i) => (i === 0 ? 1 : 0)) };
  }
  return executeWith(runner, batch, mask, delivery);
}

export async function checkTokenBitmask(runner: ModelRunner, prompts: [number[], number[]], allowed: number[]): Promise<void> {
  for (const decode of [false, true]) {
    for (const temperature of [0, 3]) {
      const label = `${decode ? 'decode' : 'prefill'} step, temperature ${temperature}`;
      const free = await maskedStep(runner, prompts, null, temperature, decode);
      const masked = await maskedStep(runner, prompts, allowed, temperature, decode);
      assert.ok(allowed.includes(masked.sampledTokenIds[0] as number), `${label}: sampled ${masked.sampledTokenIds[0]}`);
      const top = Array.from(masked.topTokenIds.subarray(0, masked.topK));
      const logprobs = Array.from(masked.topLogprobs.subarray(0, masked.topK));
      assert.deepEqual(new Set(top.slice(0, allowed.length)), new Set(allowed), `${label}: the top entries are the allowed tokens`);
      assert.ok(logprobs.slice(allowed.length).every((lp) => lp === -Infinity), `${label}: disallowed tokens have logprob -inf`);
      const mass = logprobs.slice(0, allowed.length).reduce((sum, lp) => sum + Math.exp(lp), 0);
      assert.ok(Math.abs(mass - 1) < 1e-4, `${label}: the allowed tokens hold all the mass, got ${mass}`);
      assert.equal(masked.sampledTokenIds[1], free.sampledTokenIds[1], `${label}: the free row samples as without a mask`);
      assert.deepEqual(masked.topLogprobs.subarray(masked.topK), free.topLogprobs.subarray(free.topK), `${label}: the free row's logprobs are untouched`);
      const late = await maskedStep(runner, prompts, allowed, temperature, decode, 'late');
      assert.deepEqual(late, masked, `${label}: a late mask gives the early one's results`);
    }
  }
}

export async function checkMalformedTokenBitmask(runner: ModelRunner, delivery: MaskDelivery = 'early'): Promise<void> {
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const batch = buildStepBatch(pool, [{ seq: new ManualSequence([1, 2, 3]), numTokens: 3, sample: true }]);
  const numWords = Math.ceil(runner.spec.vocabSize / 32);
  const masked = (mask: TokenBitmask): Promise<StepOutput> => executeWith(runner, batch, mask, delivery);
  await assert.rejects(masked({ numWords: numWords - 1, bitmask: new Uint32Array(numWords - 1).fill(1), hasBitmask: Uint8Array.of(1) }), /tokenBitmask\.numWords/);
  await assert.rejects(masked({ numWords, bitmask: new Int32Array(numWords) as unknown as Uint32Array, hasBitmask: Uint8Array.of(1) }), /bitmask must be a Uint32Array/);
  await assert.rejects(masked({ numWords, bitmask: new Uint32Array(numWords), hasBitmask: Uint8Array.of(1) }), /allows no token/);
  if (delivery === 'late') {
    const failing = runner.executeWithLateBitmask?.(batch, () => Promise.reject(new Error('grammar exploded')));
    await assert.rejects(failing ?? Promise.resolve(), /grammar masks failed: grammar exploded/);
  }
  assert.ok(((await runner.execute({ ...batch, tokenBitmask: null })).sampledTokenIds[0] as number) >= 0, 'the runner keeps working');
}
