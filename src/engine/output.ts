/**
 * What the engine hands back per request: delta outputs per step (vLLM's RequestOutput with
 * DELTA output kind), one CompletionOutput per of the n samples that changed.
 */
import type { FinishReason, TokenLogprob } from './request.js';

export type { FinishReason, TokenLogprob } from './request.js';

export interface CompletionOutput {
  /** Which of the n samples. */
  index: number;
  /** Text new since the previous output (the whole text in an accumulated output). */
  text: string;
  tokenIds: number[];
  /** One entry per token in tokenIds when logprobs were asked for, else null. */
  logprobs: TokenLogprob[] | null;
  /** Sum of the sampled tokens' logprobs so far, when logprobs were asked for. */
  cumulativeLogprob: number | null;
  finishReason: FinishReason | null;
  /** The stop string or stop token id that ended it (null for EOS and length), as vLLM. */
  stopReason: string | number | null;
}

export interface RequestOutput {
  requestId: string;
  /** The samples with news this step (all n in an accumulated output). */
  outputs: CompletionOutput[];
  /** Once, in the first output, when prompt_logprobs was asked for: one per prompt token, the first null. */
  promptLogprobs: (TokenLogprob | null)[] | null;
  /** Every sample has finished. */
  finished: boolean;
  numPromptTokens: number;
  /** Prompt tokens whose KV came from the prefix cache. */
  numCachedPromptTokens: number;
  /** Generated tokens so far, over all samples. */
  numCompletionTokens: number;
  /** An embedding request's pooled final hidden state, in its finished output. */
  embedding?: Float32Array;
}

/** Folds a request's delta outputs into one whole output (outputs sorted by index). */
export function accumulateOutputs(deltas: readonly RequestOutput[]): RequestOutput {
  const first = deltas[0];
  if (first === undefined) throw new Error('no outputs to accumulate');
  const byIndex = new Map<number, CompletionOutput>();
  let promptLogprobs: (TokenLogprob | null)[] | null = null;
  for (const delta of deltas) {
    promptLogprobs ??= delta.promptLogprobs;
    for (const out of delta.outputs) {
      const acc = byIndex.get(out.index);
      if (acc === undefined) {
        byIndex.set(out.index, {
          ...out,
          tokenIds: [...out.tokenIds],
          logprobs: out.logprobs === null ? null : [...out.logprobs],
        });
        continue;
      }
      acc.text += out.text;
      acc.tokenIds.push(...out.tokenIds);
      if (out.logprobs !== null) (acc.logprobs ??= []).push(...out.logprobs);
      acc.cumulativeLogprob = out.cumulativeLogprob;
      acc.finishReason = out.finishReason;
      acc.stopReason = out.stopReason;
    }
  }
  const last = deltas[deltas.length - 1] as RequestOutput;
  return {
    requestId: first.requestId,
    outputs: [...byIndex.values()].sort((a, b) => a.index - b.index),
    promptLogprobs,
    finished: last.finished,
    numPromptTokens: last.numPromptTokens,
    numCachedPromptTokens: last.numCachedPromptTokens,
    numCompletionTokens: last.numCompletionTokens,
    ...(last.embedding ? { embedding: last.embedding } : {}),
  };
}
