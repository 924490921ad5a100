/** Reading the transformers reference and driving the runner against it (cpu and lora tests). */
import assert from 'node:assert/strict';
import { buildStepBatch, commitStep, GREEDY, ManualBlockPool, ManualSequence, type ManualStepEntry } from './manual-batch.js';
import { createRunner } from '../../src/runtime/create-runner.js';
import type { ModelRunner, StepOutput } from '../../src/runtime/types.js';
import { DynamicNtkRope } from '../../src/engine/dynamic-ntk.js';
import { modelDir as MODEL_DIR, type ReferenceGeneration as RefGeneration, type ReferenceLogprobs as RefLogprobs } from './reference.js';

export type { ReferenceLogprobs as RefLogprobs, ReferenceGeneration as RefGeneration } from './reference.js';
export { modelDir as MODEL_DIR, reference } from './reference.js';
const TOLERANCE = 1e-3;
const LOW_MARGIN = 1e-3;

export function openTinyRunner(): Promise<ModelRunner> {
  return createRunner({ modelDir: MODEL_DIR, device: 'cpu', kvCacheBytes: 16 << 20, maxLoras: 2, maxLoraRank: 16, lateTokenBitmask: true });
}

/** A sequence of `promptIds` as the engine makes it: with its own rotary when the model scales rope per sequence. */
function manualSequence(runner: ModelRunner, promptIds: readonly number[], adapterSlot: number): ManualSequence {
  const rope = DynamicNtkRope.of(runner.spec)?.forPrompt(promptIds.length) ?? null;
  return new ManualSequence(promptIds, GREEDY, adapterSlot, rope?.invFreq ?? null);
}

/** Teacher-forced: every sequence at once, a distribution at every position. */
export async function teacherForced(runner: ModelRunner, refs: RefLogprobs[], adapterSlot = -1): Promise<StepOutput> {
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const entries: ManualStepEntry[] = refs.map((r) => ({ seq: manualSequence(runner, r.ids, adapterSlot), numTokens: r.ids.length, sample: false }));
  const tokenIndex: number[] = [];
  const targetTokenId: number[] = [];
  let offset = 0;
  for (const r of refs) {
    r.ids.forEach((_, i) => {
      tokenIndex.push(offset + i);
      targetTokenId.push(r.ids[i + 1] ?? -1);
    });
    offset += r.ids.length;
  }
  const batch = buildStepBatch(pool, entries, { tokenIndex: Int32Array.from(tokenIndex), targetTokenId: Int32Array.from(targetTokenId), topK: 5 });
  return runner.execute(batch);
}

/** Ranks may swap only between reference entries closer than the tolerance. */
function assertTopMatches(got: { ids: number[]; lps: number[] }, want: [number, number][], where: string): void {
  want.forEach(([id, lp], k) => {
    const gotLp = got.lps[k] ?? NaN;
    assert.ok(Math.abs(gotLp - lp) <= TOLERANCE, `${where} top[${k}] logprob ${gotLp} vs ${lp}`);
    if (got.ids[k] !== id) {
      const near = want.some(([otherId, otherLp]) => otherId === got.ids[k] && Math.abs(otherLp - lp) <= TOLERANCE);
      assert.ok(near, `${where} top[${k}] id ${got.ids[k]} vs ${id}`);
    }
  });
}

export function checkTeacherForced(out: StepOutput, refs: RefLogprobs[], label: string): number {
  let entry = 0;
  let checked = 0;
  for (const [r, ref] of refs.entries()) {
    for (let i = 0; i < ref.ids.length; i++, entry++) {
      const where = `${label} seq ${r} position ${i}`;
      const ids = [...out.positionTopTokenIds.subarray(entry * 5, entry * 5 + 5)];
      const lps = [...out.positionTopLogprobs.subarray(entry * 5, entry * 5 + 5)];
      const pos = ref.positions[i];
      if (pos) {
        const got = out.positionTargetLogprobs[entry] ?? NaN;
        assert.ok(Math.abs(got - pos.logprob) <= TOLERANCE, `${where}: logprob ${got} vs ${pos.logprob}`);
        assertTopMatches({ ids, lps }, pos.top, where);
      } else {
        assertTopMatches({ ids, lps }, ref.next_top, `${where} (next_top)`);
      }
      checked++;
    }
  }
  return checked;
}

/**
 * Greedy generation of several sequences at once, each joining `stagger` steps after the
 * previous (so prefills and decodes share steps), up to the reference's output length.
 */
export async function generateGreedy(runner: ModelRunner, refs: RefGeneration[], adapterSlots: number[], stagger = 1): Promise<number[][]> {
  const pool = new ManualBlockPool(runner.numKvBlocks);
  const seqs = refs.map((r, i) => manualSequence(runner, r.prompt_ids, adapterSlots[i] ?? -1));
  for (let step = 0; ; step++) {
    const entries: ManualStepEntry[] = [];
    seqs.forEach((seq, i) => {
      const ref = refs[i];
      if (!ref || step < i * stagger || seq.outputIds.length >= ref.output_ids.length) return;
      entries.push({ seq, numTokens: seq.tokens.length - seq.numComputed, sample: true });
    });
    if (entries.length === 0) break;
    const out = await runner.execute(buildStepBatch(pool, entries));
    commitStep(entries, out.sampledTokenIds);
  }
  return seqs.map((s) => s.outputIds);
}

/** Identical greedy tokens, except after a step whose reference margin is under 1e-3. */
export function checkGreedy(outputs: number[][], refs: RefGeneration[], label: string): void {
  refs.forEach((ref, i) => {
    const got = outputs[i] ?? [];
    for (let k = 0; k < ref.output_ids.length; k++) {
      assert.equal(got[k], ref.output_ids[k], `${label} ${i}: token ${k} (${JSON.stringify(got)} vs ${JSON.stringify(ref.output_ids)})`);
      if ((ref.margins[k] ?? Infinity) < LOW_MARGIN) break;
    }
  });
}

