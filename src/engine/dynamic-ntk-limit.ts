/**
 * Qwen v1's dynamic NTK (`use_dynamic_ntk`) picks a rotary base from the length of a sequence's
 * first forward and keeps it for the sequence's life, so K already in the cache (and any shared
 * cached prefix) would have to be recomputed per sequence. swiftlet does not implement that: a
 * prompt longer than the trained context is refused instead of run with the wrong rotary base.
 * Prompts within it use the base unchanged (alpha 1), also while decoding past it, as the reference does.
 */
import type { ModelSpec } from '../model/spec.js';
import { RequestTooLongError } from './errors.js';

export function checkDynamicNtkPrompt(spec: ModelSpec, numPromptTokens: number): void {
  const limit = spec.rope.dynamicNtkContext;
  if (limit === undefined || numPromptTokens <= limit) return;
  throw new RequestTooLongError(
    `the prompt has ${numPromptTokens} tokens, more than the ${limit} this model was trained at; its dynamic NTK ` +
      `rotary scaling (use_dynamic_ntk) for longer prompts is not supported`,
    numPromptTokens,
    limit,
  );
}
