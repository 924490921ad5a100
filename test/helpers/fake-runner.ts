/**
 * A deterministic fake ModelRunner with a real (fake) KV cache: every token written through
 * slotMapping stores its position and a hash of itself, its adapter and the value at the
 * previous position (read back through the block table), and a sequence's "logits" depend
 * only on what it reads back through its block table up to contextLens.
 * So a wrong block table, slot mapping, prefix reuse or preemption changes its output, and
 * engine tests through the public API mean something. Sampling follows SamplingBatch:
 * penalties, bias, temperature, top-k/p, min-p, with a counter RNG keyed by seed and
 * sampleIndex, so results never depend on the batch.
 */
import { KV_BLOCK_SIZE } from '../../src/runtime/types.js';
import type { LoraWeights, ModelRunner, StepBatch, StepOutput } from '../../src/runtime/types.js';
import { StepQueue } from '../../src/runtime/step-queue.js';
import type { ModelSpec } from '../../src/model/spec.js';
import type { EngineTokenizer, StreamDetokenizer } from '../../src/engine/engine-tokenizer.js';

export const FAKE_EOS = 0;

export interface FakeRunnerOptions {
  numKvBlocks?: number;
  vocabSize?: number;
  maxPositionEmbeddings?: number;
  maxLoras?: number;
  /** Makes execute() fail when it returns true for a batch. */
  failWhen?: (batch: StepBatch) => boolean;
}

export function fakeSpec(vocabSize: number, maxPositionEmbeddings: number): ModelSpec {
  return {
    hfArchitecture: 'FakeForCausalLM',
    family: 'llama',
    vocabSize,
    hiddenSize: 8,
    intermediateSize: 16,
    numLayers: 1,
    numHeads: 1,
    numKvHeads: 1,
    headDim: 8,
    rmsNormEps: 1e-6,
    maxPositionEmbeddings,
    tieWordEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    qkNorm: false,
    rope: { type: 'default', theta: 10000, partialRotaryFactor: 1 },
    dtype: 'float32',
    bosTokenId: null,
    eosTokenIds: [FAKE_EOS],
  };
}

export class FakeRunner implements ModelRunner {
  readonly spec: ModelSpec;
  readonly device = 'cpu' as const;
  readonly numKvBlocks: number;
  readonly maxLoras: number;
  readonly batches: { numSeqs: number; numTokens: number; numSampled: number }[] = [];
  /** Per cache slot: a hash of the token and everything before it, and its position. */
  private readonly kvValues: Uint32Array;
  private readonly kvPositions: Int32Array;
  private readonly failWhen: ((batch: StepBatch) => boolean) | undefined;

  constructor(options: FakeRunnerOptions = {}) {
    this.numKvBlocks = options.numKvBlocks ?? 256;
    this.maxLoras = options.maxLoras ?? 2;
    this.spec = fakeSpec(options.vocabSize ?? 96, options.maxPositionEmbeddings ?? 4096);
    const numSlots = this.numKvBlocks * KV_BLOCK_SIZE;
    this.kvValues = new Uint32Array(numSlots);
    this.kvPositions = new Int32Array(numSlots).fill(-1);
    this.failWhen = options.failWhen;
  }

  /** Steps queue (StepQueue), as on the native runners. */
  readonly supportsAsyncScheduling = true;
  private readonly steps = new StepQueue();

  execute(batch: StepBatch): Promise<StepOutput> {
    return this.steps.run(batch, (step) => this.compute(step));
  }

  private async compute(batch: StepBatch): Promise<StepOutput> {
    // NOTE: resolve on a later macrotask, as a native async call would, so steps are truly in flight.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.failWhen?.(batch)) throw new Error('fake runner failure');
    const V = this.spec.vocabSize;
    const { numSeqs, sampling } = batch;
    let numSampled = 0;

    // NOTE: like real K/V, what a slot holds depends on the whole prefix before it (read back
    // through the block table), so a block reused under another prefix changes the output.
    const hashAt: Map<number, number>[] = [];
    for (let s = 0; s < numSeqs; s++) {
      const slotOf = (p: number): number => {
        const block = batch.blockTables[s * batch.maxBlocksPerSeq + Math.floor(p / KV_BLOCK_SIZE)] as number;
        if (block < 0 || block >= this.numKvBlocks) throw new Error(`seq ${s}: no block for position ${p}`);
        return block * KV_BLOCK_SIZE + (p % KV_BLOCK_SIZE);
      };
      const readAt = (p: number): number => {
        const slot = slotOf(p);
        if (this.kvPositions[slot] !== p) throw new Error(`seq ${s}: slot ${slot} holds position ${this.kvPositions[slot]}, expected ${p}`);
        return this.kvValues[slot] as number;
      };
      const adapter = (batch.adapterSlots[s] as number) + 7;
      for (let t = batch.queryStart[s] as number; t < (batch.queryStart[s + 1] as number); t++) {
        const p = batch.positions[t] as number;
        const slot = batch.slotMapping[t] as number;
        if (slot !== slotOf(p)) throw new Error(`seq ${s}: slot mapping ${slot} disagrees with the block table for position ${p}`);
        const prev = p === 0 ? 0x12345 : readAt(p - 1);
        this.kvValues[slot] = mix(mix(prev, batch.tokenIds[t] as number), adapter);
        this.kvPositions[slot] = p;
      }
      const contextLen = batch.contextLens[s] as number;
      const hashes = new Map<number, number>();
      for (let p = 0; p < contextLen; p++) {
        const value = readAt(p);
        if (p >= (batch.positions[batch.queryStart[s] as number] as number)) hashes.set(p, value);
      }
      hashAt.push(hashes);
    }

    const topK = Math.max(0, ...Array.from(sampling.numLogprobs));
    const out: StepOutput = {
      sampledTokenIds: new Int32Array(numSeqs).fill(-1),
      sampledLogprobs: new Float32Array(numSeqs).fill(Number.NaN),
      topK,
      topTokenIds: new Int32Array(numSeqs * topK).fill(-1),
      topLogprobs: new Float32Array(numSeqs * topK).fill(Number.NaN),
      positionTargetLogprobs: new Float32Array(0),
      positionTopTokenIds: new Int32Array(0),
      positionTopLogprobs: new Float32Array(0),
      hiddenStates: new Float32Array(0),
    };

    for (let s = 0; s < numSeqs; s++) {
      if (sampling.doSample[s] !== 1) continue;
      numSampled++;
      const lastPos = (batch.contextLens[s] as number) - 1;
      const logits = logitsFor(hashAt[s]?.get(lastPos) as number, V);
      const logprobs = logSoftmax(logits);
      const adjusted = applyPenaltiesAndBias(logits, sampling, s);
      const tokenId = sample(adjusted, sampling, s);
      out.sampledTokenIds[s] = tokenId;
      out.sampledLogprobs[s] = logprobs[tokenId] as number;
      const top = topIds(logprobs, topK);
      top.forEach((id, j) => {
        out.topTokenIds[s * topK + j] = id;
        out.topLogprobs[s * topK + j] = logprobs[id] as number;
      });
    }

    const pos = batch.positionLogprobs;
    if (pos !== null) {
      const n = pos.tokenIndex.length;
      out.positionTargetLogprobs = new Float32Array(n);
      out.positionTopTokenIds = new Int32Array(n * pos.topK);
      out.positionTopLogprobs = new Float32Array(n * pos.topK);
      for (let e = 0; e < n; e++) {
        const t = pos.tokenIndex[e] as number;
        let s = 0;
        while ((batch.queryStart[s + 1] as number) <= t) s++;
        const logprobs = logSoftmax(logitsFor(hashAt[s]?.get(batch.positions[t] as number) as number, V));
        out.positionTargetLogprobs[e] = logprobs[pos.targetTokenId[e] as number] as number;
        topIds(logprobs, pos.topK).forEach((id, j) => {
          out.positionTopTokenIds[e * pos.topK + j] = id;
          out.positionTopLogprobs[e * pos.topK + j] = logprobs[id] as number;
        });
      }
    }
    this.batches.push({ numSeqs, numTokens: batch.numTokens, numSampled });
    return out;
  }

  loadAdapter(_slot: number, _weights: LoraWeights): void {}
  unloadAdapter(_slot: number): void {}
  dispose(): void {}
}

/** A tokenizer over the fake vocabulary: id 0 is the special `<eos>`, others 1-3 letter strings. */
export class FakeTokenizer implements EngineTokenizer {
  readonly pieces: string[];

  constructor(vocabSize = 96) {
    const alphabet = 'abcdefgh ';
    this.pieces = ['<eos>'];
    for (let id = 1; id < vocabSize; id++) {
      const h = mix(id, 99);
      let piece = '';
      for (let i = 0; i <= h % 3; i++) piece += alphabet[(h >>> (4 + 4 * i)) % alphabet.length];
      this.pieces.push(piece);
    }
  }

  decode(ids: readonly number[], options: { skipSpecialTokens: boolean }): string {
    return ids.map((id) => (id === FAKE_EOS && options.skipSpecialTokens ? '' : (this.pieces[id] ?? '?'))).join('');
  }

  createDetokenizer(_promptIds: readonly number[], skipSpecialTokens: boolean): StreamDetokenizer {
    return { push: (ids) => this.decode(ids, { skipSpecialTokens }), flush: () => '' };
  }
}

function mix(h: number, k: number): number {
  h = Math.imul(h ^ k, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

function logitsFor(hash: number, V: number): Float64Array {
  const logits = new Float64Array(V);
  for (let v = 0; v < V; v++) logits[v] = (mix(hash, v + 1) / 4294967296) * 8 - 4;
  return logits;
}

function logSoftmax(logits: Float64Array): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (const x of logits) max = Math.max(max, x);
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return logits.map((x) => x - lse);
}

function topIds(values: Float64Array, k: number): number[] {
  return Array.from(values.keys())
    .sort((a, b) => (values[b] as number) - (values[a] as number) || a - b)
    .slice(0, k);
}

function applyPenaltiesAndBias(raw: Float64Array, sampling: StepBatch['sampling'], s: number): Float64Array {
  const logits = Float64Array.from(raw);
  const counts = new Map<number, number>();
  for (let i = sampling.outputStart[s] as number; i < (sampling.outputStart[s + 1] as number); i++) {
    const id = sampling.outputTokenIds[i] as number;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const rep = sampling.repetitionPenalty[s] as number;
  if (rep !== 1) {
    const seen = new Set(counts.keys());
    for (let i = sampling.promptStart[s] as number; i < (sampling.promptStart[s + 1] as number); i++) seen.add(sampling.promptTokenIds[i] as number);
    for (const id of seen) logits[id] = (logits[id] as number) > 0 ? (logits[id] as number) / rep : (logits[id] as number) * rep;
  }
  for (const [id, count] of counts) {
    logits[id] = (logits[id] as number) - (sampling.presencePenalty[s] as number) - (sampling.frequencyPenalty[s] as number) * count;
  }
  for (let i = sampling.biasStart[s] as number; i < (sampling.biasStart[s + 1] as number); i++) {
    const id = sampling.biasTokenIds[i] as number;
    logits[id] = (logits[id] as number) + (sampling.biasValues[i] as number);
  }
  return logits;
}

function sample(logits: Float64Array, sampling: StepBatch['sampling'], s: number): number {
  const temperature = sampling.temperature[s] as number;
  const order = topIds(logits, logits.length);
  if (temperature === 0) return order[0] as number;
  const k = sampling.topK[s] as number;
  const kept = k > 0 ? order.slice(0, k) : order;
  const max = logits[kept[0] as number] as number;
  let probs = kept.map((id) => Math.exp(((logits[id] as number) - max) / temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / total);
  const topP = sampling.topP[s] as number;
  const minP = (sampling.minP[s] as number) * (probs[0] as number);
  let cum = 0;
  let n = 0;
  while (n < probs.length && (n === 0 || (cum < topP && (probs[n] as number) >= minP))) cum += probs[n++] as number;
  total = probs.slice(0, n).reduce((a, b) => a + b, 0);
  const u = (mix(mix(sampling.seeds[2 * s] as number, sampling.seeds[2 * s + 1] as number), (sampling.sampleIndex[s] as number) + 1) / 4294967296) * total;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += probs[i] as number;
    if (u < acc) return kept[i] as number;
  }
  return kept[n - 1] as number;
}
