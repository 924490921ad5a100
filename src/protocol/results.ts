/** What a finished (or partly streamed) choice holds, independent of how it is rendered. */
import type { TokenLogprob } from '../engine/request.js';

export type { TokenLogprob };

export interface ChoiceResult {
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[] | null;
  finishReason: 'stop' | 'length' | 'abort' | null;
  /** vLLM's stop_reason: the stop string or token id that ended it, null for EOS or length. */
  stopReason: string | number | null;
}

export interface PromptResult {
  promptTokenIds: number[];
  promptText: string;
  /** One per prompt token; the first is null (nothing precedes it). */
  promptLogprobs: (TokenLogprob | null)[] | null;
  /** The request asked for prompt_logprobs itself (not only through echo + logprobs). */
  wantsPromptLogprobs: boolean;
  numCachedTokens: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number } | null;
}

export function usageOf(prompts: PromptResult[], choices: ChoiceResult[]): Usage {
  const promptTokens = prompts.reduce((sum, p) => sum + p.promptTokenIds.length, 0);
  const completionTokens = choices.reduce((sum, c) => sum + c.tokenIds.length, 0);
  const cachedTokens = prompts.reduce((sum, p) => sum + p.numCachedTokens, 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}
