/**
 * The only place where scheduled requests become the flat StepBatch the runner reads.
 */
import { KV_BLOCK_SIZE } from '../runtime/types.js';
import type { PositionLogprobRequest, SamplingBatch, StepBatch } from '../runtime/types.js';
import type { KvCacheManager } from './kv-cache-manager.js';
import type { ScheduledSequence } from './scheduler.js';

/** Which positionLogprobs entries belong to which sequence: prompt positions firstTarget.. get entries entryStart... */
export interface PromptLogprobSlice {
  seqIndex: number;
  entryStart: number;
  numEntries: number;
  /** Prompt position whose logprob the first entry reports. */
  firstTarget: number;
  /** The request's prompt_logprobs k. */
  topK: number;
}

export interface BuiltStep {
  batch: StepBatch;
  promptLogprobSlices: PromptLogprobSlice[];
}

export function buildStepBatch(
  scheduled: readonly ScheduledSequence[],
  kv: KvCacheManager,
  eosTokenIds: readonly number[],
): BuiltStep {
  const numSeqs = scheduled.length;
  let numTokens = 0;
  let maxBlocksPerSeq = 1;
  for (const { request, start, numNewTokens } of scheduled) {
    numTokens += numNewTokens;
    maxBlocksPerSeq = Math.max(maxBlocksPerSeq, Math.ceil((start + numNewTokens) / KV_BLOCK_SIZE));
  }

  const tokenIds = new Int32Array(numTokens);
  const positions = new Int32Array(numTokens);
  const slotMapping = new Int32Array(numTokens);
  const queryStart = new Int32Array(numSeqs + 1);
  const contextLens = new Int32Array(numSeqs);
  const blockTables = new Int32Array(numSeqs * maxBlocksPerSeq).fill(-1);
  const adapterSlots = new Int32Array(numSeqs);
  const promptLogprobSlices: PromptLogprobSlice[] = [];
  const entryTokenIndex: number[] = [];
  const entryTarget: number[] = [];
  let positionTopK = 0;

  let offset = 0;
  scheduled.forEach(({ request, start, numNewTokens }, s) => {
    const blockIds = kv.blockIds(request);
    const end = start + numNewTokens;
    const numBlocks = Math.ceil(end / KV_BLOCK_SIZE);
    if (blockIds.length < numBlocks) throw new Error(`request ${request.requestId}: ${blockIds.length} blocks for ${end} tokens`);
    for (let b = 0; b < numBlocks; b++) blockTables[s * maxBlocksPerSeq + b] = blockIds[b] as number;
    queryStart[s] = offset;
    contextLens[s] = end;
    adapterSlots[s] = request.adapterSlot;
    const tokens = request.allTokenIds;
    for (let p = start; p < end; p++, offset++) {
      tokenIds[offset] = tokens[p] as number;
      positions[offset] = p;
      slotMapping[offset] = (blockIds[(p / KV_BLOCK_SIZE) | 0] as number) * KV_BLOCK_SIZE + (p % KV_BLOCK_SIZE);
    }

    // The distribution after token p gives the logprob of prompt token p + 1.
    const promptLogprobs = request.promptLogprobs;
    if (promptLogprobs !== null && !request.isPromptLogprobsComplete) {
      const firstTarget = Math.max(start + 1, promptLogprobs.length);
      const lastTarget = Math.min(end, request.numPromptTokens - 1);
      if (firstTarget <= lastTarget) {
        const topK = request.params.promptLogprobs ?? 0;
        positionTopK = Math.max(positionTopK, topK);
        promptLogprobSlices.push({ seqIndex: s, entryStart: entryTokenIndex.length, numEntries: lastTarget - firstTarget + 1, firstTarget, topK });
        const seqOffset = queryStart[s] as number;
        for (let t = firstTarget; t <= lastTarget; t++) {
          entryTokenIndex.push(seqOffset + (t - 1 - start));
          entryTarget.push(tokens[t] as number);
        }
      }
    }
  });
  queryStart[numSeqs] = offset;

  const positionLogprobs: PositionLogprobRequest | null =
    entryTokenIndex.length === 0
      ? null
      : { tokenIndex: Int32Array.from(entryTokenIndex), targetTokenId: Int32Array.from(entryTarget), topK: positionTopK };

  return {
    batch: {
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
      sampling: buildSamplingBatch(scheduled, eosTokenIds),
      positionLogprobs,
    },
    promptLogprobSlices,
  };
}

function buildSamplingBatch(scheduled: readonly ScheduledSequence[], eosTokenIds: readonly number[]): SamplingBatch {
  const numSeqs = scheduled.length;
  const doSample = new Uint8Array(numSeqs);
  const temperature = new Float32Array(numSeqs);
  const topP = new Float32Array(numSeqs).fill(1);
  const topK = new Int32Array(numSeqs);
  const minP = new Float32Array(numSeqs);
  const repetitionPenalty = new Float32Array(numSeqs).fill(1);
  const presencePenalty = new Float32Array(numSeqs);
  const frequencyPenalty = new Float32Array(numSeqs);
  const seeds = new Uint32Array(numSeqs * 2);
  const sampleIndex = new Int32Array(numSeqs);
  const numLogprobs = new Int32Array(numSeqs).fill(-1);
  const promptStart = new Int32Array(numSeqs + 1);
  const outputStart = new Int32Array(numSeqs + 1);
  const biasStart = new Int32Array(numSeqs + 1);
  const promptIds: number[] = [];
  const outputIds: number[] = [];
  const biasIds: number[] = [];
  const biasValues: number[] = [];

  scheduled.forEach(({ request, doSample: isSampled }, s) => {
    promptStart[s] = promptIds.length;
    outputStart[s] = outputIds.length;
    biasStart[s] = biasIds.length;
    if (!isSampled) return;
    const params = request.params;
    doSample[s] = 1;
    temperature[s] = params.temperature;
    topP[s] = params.topP;
    topK[s] = params.topK;
    minP[s] = params.minP;
    repetitionPenalty[s] = params.repetitionPenalty;
    presencePenalty[s] = params.presencePenalty;
    frequencyPenalty[s] = params.frequencyPenalty;
    const [lo, hi] = params.seedWords;
    seeds[2 * s] = lo;
    seeds[2 * s + 1] = hi;
    sampleIndex[s] = request.numOutputTokens;
    numLogprobs[s] = params.logprobs ?? -1;
    if (params.repetitionPenalty !== 1) {
      for (let i = 0; i < request.numPromptTokens; i++) promptIds.push(request.allTokenIds[i] as number);
    }
    if (params.hasPenalties) outputIds.push(...request.outputTokenIds);
    if (params.logitBias !== null) {
      for (const [id, value] of params.logitBias) {
        biasIds.push(id);
        biasValues.push(value);
      }
    }
    if (request.numOutputTokens < params.minTokens) {
      const banned = new Set(params.stopTokenIds);
      if (!params.ignoreEos) for (const id of eosTokenIds) banned.add(id);
      for (const id of banned) {
        biasIds.push(id);
        biasValues.push(Number.NEGATIVE_INFINITY);
      }
    }
  });
  promptStart[numSeqs] = promptIds.length;
  outputStart[numSeqs] = outputIds.length;
  biasStart[numSeqs] = biasIds.length;

  return {
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
  };
}
