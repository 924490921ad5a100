/**
 * The only place where scheduled requests become the flat StepBatch the runner reads.
 *
 * NOTE: the batch's arrays are views of scratch buffers reused from step to step (grow-only),
 * so a step allocates no typed arrays. That is safe because a builder builds its next batch
 * only after the runner's execute() of its last one has settled (asynchronous scheduling
 * alternates two builders, one per step in flight), and both native runners copy every input
 * out of the JS arrays inside execute() itself (native/common/js_step.cc readStep) before any
 * asynchronous work. A runner must not keep a batch's arrays past its step.
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

/**
 * A speculating sequence's verification rows: positionLogprobs entries entryStart.. hold the
 * distributions after its last token and after each draft but the last (the last draft's
 * successor is the sequence's ordinary sample).
 */
export interface DraftSlice {
  seqIndex: number;
  entryStart: number;
}

/** Rows rowStart.. of the step's hiddenStates belong to the pooling of sequence seqIndex. */
export interface HiddenStateSlice {
  seqIndex: number;
  rowStart: number;
  numRows: number;
}

export interface BuiltStep {
  batch: StepBatch;
  promptLogprobSlices: PromptLogprobSlice[];
  /** In batch order. */
  draftSlices: DraftSlice[];
  hiddenStateSlices: HiddenStateSlice[];
}

/** Grow-only scratch for one typed array, handing out a view of the first n elements. */
class Scratch<A extends Int32Array | Uint32Array | Float32Array | Uint8Array> {
  data: A;
  private lastView: A;

  constructor(
    private readonly alloc: (n: number) => A,
    capacity: number,
  ) {
    this.data = alloc(Math.max(capacity, 1));
    this.lastView = this.data.subarray(0, 0) as A;
  }

  /** Room for n elements; growing keeps nothing (callers rewrite what they use). */
  reserve(n: number): A {
    if (n > this.data.length) {
      this.data = this.alloc(Math.max(n, 2 * this.data.length));
    }
    return this.data;
  }

  view(n: number): A {
    if (this.lastView.length !== n || this.lastView.buffer !== this.data.buffer) this.lastView = this.data.subarray(0, n) as A;
    return this.lastView;
  }
}

/** What tokenIds holds where the runner puts the previous step's sample (previousSampledRow). */
const PENDING_TOKEN_PLACEHOLDER = 0;

const int32 = (n: number): Int32Array => new Int32Array(n);
const uint32 = (n: number): Uint32Array => new Uint32Array(n);
const float32 = (n: number): Float32Array => new Float32Array(n);
const uint8 = (n: number): Uint8Array => new Uint8Array(n);

function initialCapacity(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.min(Math.ceil(n), 1 << 16) : 1;
}

/**
 * Each sequence's rotary inverse frequencies, one row after another, when the model scales rope
 * per sequence: then every request carries its own (engine.ts), so the first one tells.
 */
function sequenceRopeRows(scheduled: readonly ScheduledSequence[]): Float32Array | null {
  const first = scheduled[0]?.request.rope;
  if (first === undefined || first === null) return null;
  const width = first.invFreq.length;
  const rows = new Float32Array(scheduled.length * width);
  scheduled.forEach(({ request }, s) => {
    if (request.rope === null) throw new Error(`request ${request.requestId} has no rotary of its own`);
    rows.set(request.rope.invFreq, s * width);
  });
  return rows;
}

export class StepBatchBuilder {
  private readonly tokenIds: Scratch<Int32Array>;
  private readonly positions: Scratch<Int32Array>;
  private readonly slotMapping: Scratch<Int32Array>;
  private readonly queryStart: Scratch<Int32Array>;
  private readonly contextLens: Scratch<Int32Array>;
  private readonly adapterSlots: Scratch<Int32Array>;
  private readonly previousSampledRow: Scratch<Int32Array>;
  private readonly blockTables = new Scratch(int32, 0);
  /**
   * What each block-table row holds, so a step rewrites only what changed: the sequence's
   * block list (append-only while the sequence holds it; a new array after it is freed) and
   * how many of its entries the row has. Valid while the stride and the buffer stay.
   */
  private rowBlockIds: (readonly number[] | null)[] = [];
  private rowNumBlocks = new Int32Array(0);
  private tableStride = 0;
  private tableBuffer: ArrayBufferLike | null = null;

  private readonly doSample: Scratch<Uint8Array>;
  private readonly temperature: Scratch<Float32Array>;
  private readonly topP: Scratch<Float32Array>;
  private readonly topK: Scratch<Int32Array>;
  private readonly minP: Scratch<Float32Array>;
  private readonly repetitionPenalty: Scratch<Float32Array>;
  private readonly presencePenalty: Scratch<Float32Array>;
  private readonly frequencyPenalty: Scratch<Float32Array>;
  private readonly seeds: Scratch<Uint32Array>;
  private readonly sampleIndex: Scratch<Int32Array>;
  private readonly numLogprobs: Scratch<Int32Array>;
  private readonly promptStart: Scratch<Int32Array>;
  private readonly outputStart: Scratch<Int32Array>;
  private readonly biasStart: Scratch<Int32Array>;
  private readonly promptTokenIds = new Scratch(int32, 0);
  private readonly outputTokenIds = new Scratch(int32, 0);
  private readonly biasTokenIds = new Scratch(int32, 0);
  private readonly biasValues = new Scratch(float32, 0);

  /** The sizes only preallocate; a larger step grows the buffers. */
  constructor(
    private readonly eosTokenIds: readonly number[],
    maxNumSeqs = 1,
    maxNumBatchedTokens = 1,
  ) {
    maxNumSeqs = initialCapacity(maxNumSeqs);
    maxNumBatchedTokens = initialCapacity(maxNumBatchedTokens);
    this.tokenIds = new Scratch(int32, maxNumBatchedTokens);
    this.positions = new Scratch(int32, maxNumBatchedTokens);
    this.slotMapping = new Scratch(int32, maxNumBatchedTokens);
    this.queryStart = new Scratch(int32, maxNumSeqs + 1);
    this.contextLens = new Scratch(int32, maxNumSeqs);
    this.adapterSlots = new Scratch(int32, maxNumSeqs);
    this.previousSampledRow = new Scratch(int32, maxNumSeqs);
    this.doSample = new Scratch(uint8, maxNumSeqs);
    this.temperature = new Scratch(float32, maxNumSeqs);
    this.topP = new Scratch(float32, maxNumSeqs);
    this.topK = new Scratch(int32, maxNumSeqs);
    this.minP = new Scratch(float32, maxNumSeqs);
    this.repetitionPenalty = new Scratch(float32, maxNumSeqs);
    this.presencePenalty = new Scratch(float32, maxNumSeqs);
    this.frequencyPenalty = new Scratch(float32, maxNumSeqs);
    this.seeds = new Scratch(uint32, 2 * maxNumSeqs);
    this.sampleIndex = new Scratch(int32, maxNumSeqs);
    this.numLogprobs = new Scratch(int32, maxNumSeqs);
    this.promptStart = new Scratch(int32, maxNumSeqs + 1);
    this.outputStart = new Scratch(int32, maxNumSeqs + 1);
    this.biasStart = new Scratch(int32, maxNumSeqs + 1);
  }

  /** The step's batch; its arrays stay valid until the next build(). */
  build(scheduled: readonly ScheduledSequence[], kv: KvCacheManager): BuiltStep {
    const numSeqs = scheduled.length;
    let numTokens = 0;
    let maxBlocksPerSeq = 1;
    for (let s = 0; s < numSeqs; s++) {
      const { start, numNewTokens } = scheduled[s] as ScheduledSequence;
      numTokens += numNewTokens;
      maxBlocksPerSeq = Math.max(maxBlocksPerSeq, Math.ceil((start + numNewTokens) / KV_BLOCK_SIZE));
    }

    const tokenIds = this.tokenIds.reserve(numTokens);
    const positions = this.positions.reserve(numTokens);
    const slotMapping = this.slotMapping.reserve(numTokens);
    const queryStart = this.queryStart.reserve(numSeqs + 1);
    const contextLens = this.contextLens.reserve(numSeqs);
    const adapterSlots = this.adapterSlots.reserve(numSeqs);
    const previousSampledRow = this.previousSampledRow.reserve(numSeqs);
    let isAnyTokenPending = false;
    this.prepareBlockTables(numSeqs, maxBlocksPerSeq);
    const blockTables = this.blockTables.data;
    const rowBlockIds = this.rowBlockIds;
    const rowNumBlocks = this.rowNumBlocks;
    const promptLogprobSlices: PromptLogprobSlice[] = [];
    const draftSlices: DraftSlice[] = [];
    let entryTokenIndex: number[] | null = null;
    let entryTarget: number[] | null = null;
    let positionTopK = 0;
    const hiddenStateSlices: HiddenStateSlice[] = [];
    const hiddenStateRows: number[] = [];

    let offset = 0;
    for (let s = 0; s < numSeqs; s++) {
      const { request, start, numNewTokens, draftTokenIds } = scheduled[s] as ScheduledSequence;
      const blockIds = kv.blockIds(request);
      const end = start + numNewTokens;
      const numBlocks = Math.ceil(end / KV_BLOCK_SIZE);
      if (blockIds.length < numBlocks) throw new Error(`request ${request.requestId}: ${blockIds.length} blocks for ${end} tokens`);
      const row = s * maxBlocksPerSeq;
      // NOTE: a known row holds blockIds[0..rowNumBlocks) then -1 padding.
      const isKnownRow = rowBlockIds[s] === blockIds;
      const numWritten = isKnownRow ? (rowNumBlocks[s] as number) : 0;
      for (let b = numWritten; b < numBlocks; b++) blockTables[row + b] = blockIds[b] as number;
      const padEnd = isKnownRow ? numWritten : maxBlocksPerSeq;
      for (let b = numBlocks; b < padEnd; b++) blockTables[row + b] = -1;
      rowBlockIds[s] = blockIds;
      rowNumBlocks[s] = numBlocks;
      queryStart[s] = offset;
      contextLens[s] = end;
      adapterSlots[s] = request.adapterSlot;
      // NOTE: a pending token (asynchronous scheduling) is the first and only one of its query.
      previousSampledRow[s] = request.pendingSampleRow;
      isAnyTokenPending ||= request.pendingSampleRow >= 0;
      const tokens = request.allTokenIds;
      const numKnown = tokens.length;
      for (let p = start; p < end; p++, offset++) {
        tokenIds[offset] = p < numKnown ? (tokens[p] as number) : (draftTokenIds[p - numKnown] ?? PENDING_TOKEN_PLACEHOLDER);
        positions[offset] = p;
        slotMapping[offset] = (blockIds[(p / KV_BLOCK_SIZE) | 0] as number) * KV_BLOCK_SIZE + (p % KV_BLOCK_SIZE);
      }

      if (request.pooled !== null) {
        const [from, to] = request.pooled.positionsWanted(start, end);
        if (from < to) {
          hiddenStateSlices.push({ seqIndex: s, rowStart: hiddenStateRows.length, numRows: to - from });
          const seqOffset = queryStart[s] as number;
          for (let p = from; p < to; p++) hiddenStateRows.push(seqOffset + (p - start));
        }
      }

      // The distribution after token p gives the logprob of prompt token p + 1.
      const promptLogprobs = request.promptLogprobs;
      if (promptLogprobs !== null && !request.isPromptLogprobsComplete) {
        const firstTarget = Math.max(start + 1, promptLogprobs.length);
        const lastTarget = Math.min(end, request.numPromptTokens - 1);
        if (firstTarget <= lastTarget) {
          entryTokenIndex ??= [];
          entryTarget ??= [];
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

      // Row i of the query (the last known token, then the drafts) verifies draft i by its argmax.
      if (draftTokenIds.length > 0) {
        entryTokenIndex ??= [];
        entryTarget ??= [];
        positionTopK = Math.max(positionTopK, 1, request.params.logprobs ?? 0);
        draftSlices.push({ seqIndex: s, entryStart: entryTokenIndex.length });
        const firstRow = queryStart[s] as number;
        for (let i = 0; i < draftTokenIds.length; i++) {
          entryTokenIndex.push(firstRow + i);
          entryTarget.push(draftTokenIds[i] as number);
        }
      }
    }
    queryStart[numSeqs] = offset;

    const positionLogprobs: PositionLogprobRequest | null =
      entryTokenIndex === null || entryTarget === null || entryTokenIndex.length === 0
        ? null
        : { tokenIndex: Int32Array.from(entryTokenIndex), targetTokenId: Int32Array.from(entryTarget), topK: positionTopK };

    return {
      batch: {
        numSeqs,
        numTokens,
        tokenIds: this.tokenIds.view(numTokens),
        positions: this.positions.view(numTokens),
        queryStart: this.queryStart.view(numSeqs + 1),
        contextLens: this.contextLens.view(numSeqs),
        blockTables: this.blockTables.view(numSeqs * maxBlocksPerSeq),
        maxBlocksPerSeq,
        slotMapping: this.slotMapping.view(numTokens),
        adapterSlots: this.adapterSlots.view(numSeqs),
        sampling: this.buildSampling(scheduled),
        positionLogprobs,
        hiddenStateRows: hiddenStateRows.length === 0 ? null : Int32Array.from(hiddenStateRows),
        ropeInvFreq: sequenceRopeRows(scheduled),
        previousSampledRow: isAnyTokenPending ? this.previousSampledRow.view(numSeqs) : null,
      },
      promptLogprobSlices,
      draftSlices,
      hiddenStateSlices,
    };
  }

  /** Room for numSeqs rows of `stride`; a new stride or buffer invalidates every row. */
  private prepareBlockTables(numSeqs: number, stride: number): void {
    const data = this.blockTables.reserve(numSeqs * stride);
    if (stride !== this.tableStride || data.buffer !== this.tableBuffer) {
      this.tableStride = stride;
      this.tableBuffer = data.buffer;
      this.rowBlockIds.fill(null);
    }
    if (this.rowNumBlocks.length < numSeqs) {
      const grown = new Int32Array(Math.max(numSeqs, 2 * this.rowNumBlocks.length));
      grown.set(this.rowNumBlocks);
      this.rowNumBlocks = grown;
    }
    while (this.rowBlockIds.length < numSeqs) this.rowBlockIds.push(null);
  }

  private buildSampling(scheduled: readonly ScheduledSequence[]): SamplingBatch {
    const numSeqs = scheduled.length;
    const doSample = this.doSample.reserve(numSeqs);
    const temperature = this.temperature.reserve(numSeqs);
    const topP = this.topP.reserve(numSeqs);
    const topK = this.topK.reserve(numSeqs);
    const minP = this.minP.reserve(numSeqs);
    const repetitionPenalty = this.repetitionPenalty.reserve(numSeqs);
    const presencePenalty = this.presencePenalty.reserve(numSeqs);
    const frequencyPenalty = this.frequencyPenalty.reserve(numSeqs);
    const seeds = this.seeds.reserve(2 * numSeqs);
    const sampleIndex = this.sampleIndex.reserve(numSeqs);
    const numLogprobs = this.numLogprobs.reserve(numSeqs);
    const promptStart = this.promptStart.reserve(numSeqs + 1);
    const outputStart = this.outputStart.reserve(numSeqs + 1);
    const biasStart = this.biasStart.reserve(numSeqs + 1);

    // Sizes of the flattened lists first, so each buffer grows at most once.
    let numPromptIds = 0;
    let numOutputIds = 0;
    let numBias = 0;
    for (let s = 0; s < numSeqs; s++) {
      const { request, doSample: isSampled } = scheduled[s] as ScheduledSequence;
      if (!isSampled) continue;
      const params = request.params;
      if (params.repetitionPenalty !== 1) numPromptIds += request.numPromptTokens;
      if (params.hasPenalties) numOutputIds += request.numOutputTokens;
      if (params.logitBias !== null) numBias += params.logitBias.size;
      if (request.numOutputTokensAhead < params.minTokens) numBias += params.stopTokenIds.length + this.eosTokenIds.length;
    }
    const promptIds = this.promptTokenIds.reserve(numPromptIds);
    const outputIds = this.outputTokenIds.reserve(numOutputIds);
    const biasIds = this.biasTokenIds.reserve(numBias);
    const biasValues = this.biasValues.reserve(numBias);
    let promptEnd = 0;
    let outputEnd = 0;
    let biasEnd = 0;

    for (let s = 0; s < numSeqs; s++) {
      const { request, doSample: isSampled } = scheduled[s] as ScheduledSequence;
      promptStart[s] = promptEnd;
      outputStart[s] = outputEnd;
      biasStart[s] = biasEnd;
      if (!isSampled) {
        doSample[s] = 0;
        temperature[s] = 0;
        topP[s] = 1;
        topK[s] = 0;
        minP[s] = 0;
        repetitionPenalty[s] = 1;
        presencePenalty[s] = 0;
        frequencyPenalty[s] = 0;
        seeds[2 * s] = 0;
        seeds[2 * s + 1] = 0;
        sampleIndex[s] = 0;
        numLogprobs[s] = -1;
        continue;
      }
      const params = request.params;
      doSample[s] = 1;
      temperature[s] = params.temperature;
      topP[s] = params.topP;
      topK[s] = params.topK;
      minP[s] = params.minP;
      repetitionPenalty[s] = params.repetitionPenalty;
      presencePenalty[s] = params.presencePenalty;
      frequencyPenalty[s] = params.frequencyPenalty;
      const seedWords = params.seedWords;
      seeds[2 * s] = seedWords[0];
      seeds[2 * s + 1] = seedWords[1];
      sampleIndex[s] = request.numOutputTokensAhead;
      numLogprobs[s] = params.logprobs ?? -1;
      if (params.repetitionPenalty !== 1) {
        const tokens = request.allTokenIds;
        for (let i = 0; i < request.numPromptTokens; i++) promptIds[promptEnd++] = tokens[i] as number;
      }
      if (params.hasPenalties) {
        const tokens = request.outputTokenIds;
        for (let i = 0; i < tokens.length; i++) outputIds[outputEnd++] = tokens[i] as number;
      }
      if (params.logitBias !== null) {
        for (const [id, value] of params.logitBias) {
          biasIds[biasEnd] = id;
          biasValues[biasEnd++] = value;
        }
      }
      if (request.numOutputTokensAhead < params.minTokens) {
        const banned = new Set(params.stopTokenIds);
        if (!params.ignoreEos) for (const id of this.eosTokenIds) banned.add(id);
        for (const id of banned) {
          biasIds[biasEnd] = id;
          biasValues[biasEnd++] = Number.NEGATIVE_INFINITY;
        }
      }
    }
    promptStart[numSeqs] = promptEnd;
    outputStart[numSeqs] = outputEnd;
    biasStart[numSeqs] = biasEnd;

    return {
      doSample: this.doSample.view(numSeqs),
      temperature: this.temperature.view(numSeqs),
      topP: this.topP.view(numSeqs),
      topK: this.topK.view(numSeqs),
      minP: this.minP.view(numSeqs),
      repetitionPenalty: this.repetitionPenalty.view(numSeqs),
      presencePenalty: this.presencePenalty.view(numSeqs),
      frequencyPenalty: this.frequencyPenalty.view(numSeqs),
      seeds: this.seeds.view(2 * numSeqs),
      sampleIndex: this.sampleIndex.view(numSeqs),
      promptTokenIds: this.promptTokenIds.view(promptEnd),
      promptStart: this.promptStart.view(numSeqs + 1),
      outputTokenIds: this.outputTokenIds.view(outputEnd),
      outputStart: this.outputStart.view(numSeqs + 1),
      biasTokenIds: this.biasTokenIds.view(biasEnd),
      biasValues: this.biasValues.view(biasEnd),
      biasStart: this.biasStart.view(numSeqs + 1),
      numLogprobs: this.numLogprobs.view(numSeqs),
    };
  }
}
