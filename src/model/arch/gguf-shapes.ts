/** Shape limits that llama.cpp's architectures with a fused q/k/v tensor share. */
import type { ModelSpec } from '../spec.js';

/**
 * llama.cpp's qwen and chatglm size the fused q/k/v and the output projection by the embedding
 * width, so the query heads together must be exactly `hidden_size` wide.
 */
export function attentionWidthMismatch(spec: ModelSpec): string | undefined {
  const width = spec.numHeads * spec.headDim;
  return width === spec.hiddenSize ? undefined : `query width (${spec.numHeads} heads x ${spec.headDim}) other than hidden_size ${spec.hiddenSize}`;
}
