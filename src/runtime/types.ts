/**
 * The ModelRunner seam: weights go in once, then one `execute(batch)` per engine step.
 * Everything crossing it is a flat typed array; the runner never sees a Request.
 */
import type { ModelSpec } from '../model/spec.js';
import type { LoraWeights } from '../model/tensors.js';

export { KV_BLOCK_SIZE } from '../model/layout.js';

export type { LoraWeights, TensorData, TensorDtype, WeightSource } from '../model/tensors.js';

/**
 * Per-sequence sampling settings for one step, one entry per sequence in the batch.
 * Logprobs are always of the raw model distribution (before temperature and penalties), as vLLM's default;
 * a row with a StepBatch.tokenBitmask is masked before that, as vLLM masks its logits before its sampler.
 */
export interface SamplingBatch {
  /** 1 where the last computed token's distribution is sampled (0 for a prefill chunk that is not the last). */
  doSample: Uint8Array;
  /** 0 means greedy. */
  temperature: Float32Array;
  topP: Float32Array;
  /** 0 or -1 disables. */
  topK: Int32Array;
  minP: Float32Array;
  repetitionPenalty: Float32Array;
  presencePenalty: Float32Array;
  frequencyPenalty: Float32Array;
  /** Two u32 words (lo, hi) per sequence: the request's seed. */
  seeds: Uint32Array;
  /** Index of the token being generated (number of outputs so far): with the seed it picks the random draw, so results never depend on the batch. */
  sampleIndex: Int32Array;
  /** Prompt tokens (for repetition_penalty): ids flattened, `promptStart[numSeqs + 1]` offsets. Empty when no penalty is active. */
  promptTokenIds: Int32Array;
  promptStart: Int32Array;
  /** Generated tokens so far (for all penalties): flattened with `outputStart[numSeqs + 1]` offsets. */
  outputTokenIds: Int32Array;
  outputStart: Int32Array;
  /** Additive logit bias (logit_bias; -Infinity bans, e.g. EOS before min_tokens): pairs flattened with `biasStart[numSeqs + 1]`. */
  biasTokenIds: Int32Array;
  biasValues: Float32Array;
  biasStart: Int32Array;
  /** -1: no logprobs; 0: the sampled token's logprob only; k > 0: also the top k. */
  numLogprobs: Int32Array;
}

/** Distributions wanted at given token positions of the batch (prompt_logprobs, echo). */
export interface PositionLogprobRequest {
  /** Index into the batch's tokens whose next-token distribution is wanted. */
  tokenIndex: Int32Array;
  /** The token whose logprob is reported at that position. */
  targetTokenId: Int32Array;
  /** How many top entries to report (same for all entries of a step). */
  topK: number;
}

/**
 * Structured outputs' grammar masks for one step, one row per sequence: bit (id % 32) of word
 * (id >> 5) of a row is 1 where the grammar allows token id. Applied to the logits before
 * logprobs and all other sampling (vLLM's order), so logprobs are of the masked distribution.
 */
export interface TokenBitmask {
  /** u32 words per row: at least ceil(vocabSize / 32). */
  numWords: number;
  /** [numSeqs * numWords] */
  bitmask: Uint32Array;
  /** [numSeqs] 1 where the row constrains its sequence; 0: unconstrained (its words are ignored). */
  hasBitmask: Uint8Array;
}

/**
 * A step's grammar masks, filled while its forward pass runs: the runner calls it once the
 * forward pass is under way (queued on the GPU, or running on a worker thread) and samples with
 * what it resolves to, so the masks cost the step only what they take beyond the forward pass.
 */
export type FillTokenBitmask = () => Promise<TokenBitmask | null>;

export interface StepBatch {
  numSeqs: number;
  numTokens: number;
  /** [numTokens] token ids to compute, grouped by sequence in batch order. */
  tokenIds: Int32Array;
  /** [numTokens] absolute position of each token in its sequence. */
  positions: Int32Array;
  /** [numSeqs + 1] where each sequence's tokens start in tokenIds. */
  queryStart: Int32Array;
  /** [numSeqs] tokens in each sequence's KV cache once this step has written (previous + new). */
  contextLens: Int32Array;
  /** [numSeqs * maxBlocksPerSeq] physical block ids, -1 padded. */
  blockTables: Int32Array;
  maxBlocksPerSeq: number;
  /** [numTokens] cache slot (blockId * KV_BLOCK_SIZE + offset) each new token's K and V are written to. */
  slotMapping: Int32Array;
  /** [numSeqs] adapter slot, -1 for the base model. */
  adapterSlots: Int32Array;
  sampling: SamplingBatch;
  positionLogprobs: PositionLogprobRequest | null;
  /** Absent or null when no sequence of the step has a grammar. */
  tokenBitmask?: TokenBitmask | null;
  /** Token indices whose final hidden state (after the final norm) is wanted (embeddings); absent or null: none. */
  hiddenStateRows?: Int32Array | null;
  /**
   * [numSeqs * rotaryDim / 2] each sequence's rotary inverse frequencies: on every step of a model
   * whose rope is scaled per sequence (Qwen v1's dynamic NTK), absent or null for any other model.
   */
  ropeInvFreq?: Float32Array | null;
  /**
   * Asynchronous scheduling: [numSeqs] -1, or row k of the step launched just before this one:
   * then the sequence's first token here is the one that step samples for its row k, which the
   * engine did not know when it built this step (tokenIds holds 0 there). Absent or null: every
   * token is in tokenIds. Only for a runner with supportsAsyncScheduling.
   */
  previousSampledRow?: Int32Array | null;
}

export interface StepOutput {
  /** [numSeqs] chosen token, -1 where doSample was 0. */
  sampledTokenIds: Int32Array;
  /** [numSeqs] raw logprob of the chosen token (NaN where not sampled). */
  sampledLogprobs: Float32Array;
  /** Top-k of each sampled sequence, k = max(numLogprobs): [numSeqs * topK] ids and logprobs. */
  topK: number;
  topTokenIds: Int32Array;
  topLogprobs: Float32Array;
  /** For positionLogprobs: [entries] target logprobs, [entries * topK] ids and logprobs. */
  positionTargetLogprobs: Float32Array;
  positionTopTokenIds: Int32Array;
  positionTopLogprobs: Float32Array;
  /** For hiddenStateRows: [rows * hiddenSize] fp32 (empty when none were asked). */
  hiddenStates: Float32Array;
}

export interface ModelRunner {
  readonly spec: ModelSpec;
  readonly device: 'cpu' | 'cuda';
  /** KV blocks of KV_BLOCK_SIZE tokens available to the block manager. */
  readonly numKvBlocks: number;
  /** How many adapters can be resident at once (slots 0..maxLoras-1). */
  readonly maxLoras: number;
  /** Longest context the runner was sized for, where it has a limit of its own (CUDA scratch, graphs). */
  readonly maxModelLen?: number;
  execute(batch: StepBatch): Promise<StepOutput>;
  /**
   * Asynchronous scheduling (vLLM's --async-scheduling): execute() may be called again before the
   * previous call settled; steps run in call order, and a batch's previousSampledRow takes tokens
   * from the previous step's samples. A step that needs the previous one's samples fails when
   * that step failed. Absent or false: the engine calls execute() one step at a time.
   */
  readonly supportsAsyncScheduling?: boolean;
  /** Why the runner can no longer run steps (e.g. a tensor-parallel rank went away); null or absent while it can. */
  outOfService?(): string | null;
  /**
   * execute() with the batch's tokenBitmask (which must be absent) from `fillMask` (the
   * FillTokenBitmask contract). The result settles only after fillMask's promise has, so no mask
   * outlives its step. Absent: the engine fills the masks first and calls execute().
   */
  executeWithLateBitmask?(batch: StepBatch, fillMask: FillTokenBitmask): Promise<StepOutput>;
  loadAdapter(slot: number, weights: LoraWeights): void;
  unloadAdapter(slot: number): void;
  dispose(): void;
}

export interface RunnerOptions {
  /** Bytes for the KV cache; the runner derives numKvBlocks from it. */
  kvCacheBytes: number;
  maxLoras: number;
  maxLoraRank: number;
  numThreads?: number;
}
