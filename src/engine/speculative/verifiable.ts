/**
 * Which sequences may speculate. Drafts are verified by argmax equality on the raw logits of
 * each draft row (read back through the step's positionLogprobs), so only a sequence whose
 * next token is exactly that argmax qualifies: greedy, and nothing that changes the logits
 * before the argmax (penalties, logit_bias, the EOS ban of min_tokens, a structured-output mask). Others decode one
 * token per step as usual (sampled speculation would need rejection sampling).
 */
import type { Request } from '../request.js';

export function isVerifiableByArgmax(request: Request): boolean {
  const params = request.params;
  return (
    params.isGreedy &&
    !params.hasPenalties &&
    params.logitBias === null &&
    params.structuredOutput === null &&
    request.numOutputTokens >= params.minTokens
  );
}
