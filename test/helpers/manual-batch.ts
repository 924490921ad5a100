/**
 * Hand-built StepBatches for driving a runner without the engine (tests, benchmarks):
 * a trivial block allocator and the flattening of a few sequences into one step.
 */
import { KV_BLOCK_SIZE, type PositionLogprobRequest, type StepBatch } from '../../src/runtime/types.js';

export interface ManualSampling {
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  repetitionPenalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  seed: number;
  numLogprobs: number;
  bias: Map<number, number>;
}

export const GREEDY: ManualSampling = {
  temperature: 0,
  topP: 1,
  topK: 0,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  seed: 0,
  numLogprobs: -1,
  bias: new Map(),
};

/** A sequence: its tokens so far, how many are in the KV cache, and its blocks. */
export class ManualSequence {
  readonly tokens: number[];
  readonly numPromptTokens: number;
  numComputed = 0;
  readonly blocks: number[] = [];

  constructor(
    promptIds: readonly number[],
    readonly sampling: ManualSampling = GREEDY,
    readonly adapterSlot = -1,
    /** Its own rotary inverse frequencies, on a model that scales rope per sequence (Qwen v1's dynamic NTK). */
    readonly ropeInvFreq: Float32Array | null = null,
  ) {
    this.tokens = [...promptIds];
    this.numPromptTokens = promptIds.length;
  }

  get outputIds(): number[] {
    return this.tokens.slice(this.numPromptTokens);
  }
}

export interface ManualStepEntry {
  seq: ManualSequence;
  /** Tokens of `seq` computed this step, from `seq.numComputed` on. */
  numTokens: number;
  /** Sample after the last of them (only meaningful when they reach the end of seq.tokens). */
  sample: boolean;
}

export class ManualBlockPool {
  private readonly free: number[];

  constructor(readonly numBlocks: number) {
    this.free = Array.from({ length: numBlocks }, (_, i) => numBlocks - 1 - i);
  }

  /** Grows seq's block list to hold `numTokens` tokens. */
  reserve(seq: ManualSequence, numTokens: number): void {
    while (seq.blocks.length * KV_BLOCK_SIZE < numTokens) {
      const block = this.free.pop();
      if (block === undefined) throw new Error('manual block pool exhausted');
      seq.blocks.push(block);
    }
  }

  release(seq: ManualSequence): void {
    this.free.push(...seq.blocks.reverse());
    seq.blocks.length = 0;
  }
}

/** Flattens entries into one StepBatch, reserving blocks; `positionLogprobs` indexes the batch's tokens. */
export function buildStepBatch(
  pool: ManualBlockPool,
  entries: readonly ManualStepEntry[],
  positionLogprobs: PositionLogprobRequest | null = null,
): StepBatch {
  const numSeqs = entries.length;
  const numTokens = entries.reduce((n, e) => n + e.numTokens, 0);
  for (const e of entries) pool.reserve(e.seq, e.seq.numComputed + e.numTokens);
  const maxBlocksPerSeq = Math.max(1, ...entries.map((e) => e.seq.blocks.length));
  const tokenIds = new Int32Array(numTokens);
  const positions = new Int32Array(numTokens);
  const slotMapping = new Int32Array(numTokens);
  const queryStart = new Int32Array(numSeqs + 1);
  const contextLens = new Int32Array(numSeqs);
  const blockTables = new Int32Array(numSeqs * maxBlocksPerSeq).fill(-1);
  const adapterSlots = new Int32Array(numSeqs);
  const doSample = new Uint8Array(numSeqs);
  const temperature = new Float32Array(numSeqs);
  const topP = new Float32Array(numSeqs);
  const topK = new Int32Array(numSeqs);
  const minP = new Float32Array(numSeqs);
  const repetitionPenalty = new Float32Array(numSeqs);
  const presencePenalty = new Float32Array(numSeqs);
  const frequencyPenalty = new Float32Array(numSeqs);
  const seeds = new Uint32Array(numSeqs * 2);
  const sampleIndex = new Int32Array(numSeqs);
  const numLogprobs = new Int32Array(numSeqs);
  const promptIds: number[] = [];
  const promptStart = new Int32Array(numSeqs + 1);
  const outputIds: number[] = [];
  const outputStart = new Int32Array(numSeqs + 1);
  const biasIds: number[] = [];
  const biasValues: number[] = [];
  const biasStart = new Int32Array(numSeqs + 1);
  let t = 0;
  entries.forEach((e, s) => {
    const { seq } = e;
    queryStart[s] = t;
    for (let i = 0; i < e.numTokens; i++, t++) {
      const position = seq.numComputed + i;
      const token = seq.tokens[position];
      if (token === undefined) throw new Error(`sequence has no token at position ${position}`);
      tokenIds[t] = token;
      positions[t] = position;
      slotMapping[t] = (seq.blocks[Math.floor(position / KV_BLOCK_SIZE)] ?? -1) * KV_BLOCK_SIZE + (position % KV_BLOCK_SIZE);
    }
    contextLens[s] = seq.numComputed + e.numTokens;
    seq.blocks.forEach((b, i) => (blockTables[s * maxBlocksPerSeq + i] = b));
    adapterSlots[s] = seq.adapterSlot;
    const p = seq.sampling;
    doSample[s] = e.sample ? 1 : 0;
    temperature[s] = p.temperature;
    topP[s] = p.topP;
    topK[s] = p.topK;
    minP[s] = p.minP;
    repetitionPenalty[s] = p.repetitionPenalty;
    presencePenalty[s] = p.presencePenalty;
    frequencyPenalty[s] = p.frequencyPenalty;
    seeds[2 * s] = p.seed >>> 0;
    seeds[2 * s + 1] = Math.floor(p.seed / 2 ** 32) >>> 0;
    sampleIndex[s] = seq.tokens.length - seq.numPromptTokens;
    numLogprobs[s] = p.numLogprobs;
    promptStart[s] = promptIds.length;
    promptIds.push(...seq.tokens.slice(0, seq.numPromptTokens));
    outputStart[s] = outputIds.length;
    outputIds.push(...seq.outputIds);
    biasStart[s] = biasIds.length;
    for (const [id, value] of p.bias) {
      biasIds.push(id);
      biasValues.push(value);
    }
  });
  queryStart[numSeqs] = t;
  promptStart[numSeqs] = promptIds.length;
  outputStart[numSeqs] = outputIds.length;
  biasStart[numSeqs] = biasIds.length;
  return {
    numSeqs,
    numTokens,
    tokenIds,
    positions,
    queryStart,
    contextLens,
    blockTables,
    maxBlocksPerSeq,
    slotMapping,
    adapterSlots,
    sampling: {
      doSample,
      temperature,
      topP,
      topK,
      minP,
      repetitionPenalty,
      presencePenalty,
      frequencyPenalty,
      seeds,
      sampleIndex,
      promptTokenIds: Int32Array.from(promptIds),
      promptStart,
      outputTokenIds: Int32Array.from(outputIds),
      outputStart,
      biasTokenIds: Int32Array.from(biasIds),
      biasValues: Float32Array.from(biasValues),
      biasStart,
      numLogprobs,
    },
    positionLogprobs,
    ropeInvFreq: entries[0]?.seq.ropeInvFreq ? Float32Array.from(entries.flatMap((e) => [...(e.seq.ropeInvFreq ?? [])])) : null,
  };
}

/** After a step: entries' tokens are in the cache, and sampled tokens are appended. */
export function commitStep(entries: readonly ManualStepEntry[], sampledTokenIds: Int32Array): void {
  entries.forEach((e, s) => {
    e.seq.numComputed += e.numTokens;
    const token = sampledTokenIds[s];
    if (e.sample && token !== undefined && token >= 0) e.seq.tokens.push(token);
  });
}
