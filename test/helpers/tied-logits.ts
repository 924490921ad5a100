/**
 * An independent check of final hidden states on the tiny-qwen2 fixture, which ties its
 * embeddings: log_softmax(E · h), with E read from the checkpoint here, must give the
 * reference's next-token logprobs.
 */
import { SafetensorsCheckpoint, toFloat32 } from '../../src/model/safetensors.js';

export function readEmbeddingMatrix(modelDir: string): Float32Array {
  const checkpoint = SafetensorsCheckpoint.open(modelDir);
  try {
    return toFloat32(checkpoint.read('model.embed_tokens.weight'));
  } finally {
    checkpoint.close();
  }
}

export function logSoftmaxOfTiedLogits(embeddingMatrix: Float32Array, h: Float32Array): Float64Array {
  const H = h.length;
  const V = embeddingMatrix.length / H;
  const logits = new Float64Array(V);
  for (let v = 0; v < V; v++) {
    let dot = 0;
    for (let i = 0; i < H; i++) dot += (embeddingMatrix[v * H + i] as number) * (h[i] as number);
    logits[v] = dot;
  }
  const max = logits.reduce((m, x) => Math.max(m, x), -Infinity);
  const lse = max + Math.log(logits.reduce((sum, x) => sum + Math.exp(x - max), 0));
  return logits.map((x) => x - lse);
}
