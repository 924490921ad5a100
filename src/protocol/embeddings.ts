/**
 * `/v1/embeddings`: inputs (a text, texts, token ids, lists of token ids) to prompts, and pooled
 * hidden states to OpenAI's body. Vectors are L2-normalised (as vLLM and sentence-transformers
 * embedders do); `dimensions` keeps the first N and normalises again (Matryoshka models such as
 * Qwen3-Embedding are trained for that); `encoding_format: "base64"` is the little-endian fp32
 * bytes, which the openai client asks for by default and decodes.
 */
import { z } from 'zod';
import { badRequest, fromZodError } from './errors.js';
import { encodeWithinContext, type PromptEncoder } from './prompt-size.js';

const tokenIds = z.array(z.number().int().min(0)).min(1);

export const embeddingsRequestSchema = z.looseObject({
  model: z.string().nullish(),
  input: z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: z.number().int().min(1).nullish(),
  user: z.string().nullish(),
});
export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;

export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  const parsed = embeddingsRequestSchema.safeParse(body);
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

export interface EmbeddingContext {
  /** Text to ids; long texts off the event loop. */
  encode: PromptEncoder;
  maxModelLen: number;
  modelVocabSize: number;
  hiddenSize: number;
}

/** One prompt per input; texts get the tokenizer's special tokens (an embedder's EOS marks the pooled token). */
export async function embeddingPrompts(request: EmbeddingsRequest, context: EmbeddingContext): Promise<number[][]> {
  const { input } = request;
  if (request.dimensions != null && request.dimensions > context.hiddenSize) {
    throw badRequest(`dimensions must be at most the model's ${context.hiddenSize}`, 'dimensions');
  }
  const texts = typeof input === 'string' ? [input] : typeof input[0] === 'string' ? (input as string[]) : null;
  if (texts !== null) return Promise.all(texts.map((text) => encodeWithinContext(context.encode, text, context.maxModelLen, true, 'input')));
  const lists = typeof input[0] === 'number' ? [input as number[]] : (input as number[][]);
  for (const ids of lists) {
    if (ids.length >= context.maxModelLen) throw badRequest(`an input has ${ids.length} tokens; this model's maximum context length is ${context.maxModelLen}`, 'input');
    const bad = ids.find((id) => id >= context.modelVocabSize);
    if (bad !== undefined) throw badRequest(`token id ${bad} is out of range (vocabulary size ${context.modelVocabSize})`, 'input');
  }
  return lists;
}

/** The first `dimensions` entries (all when absent), L2-normalised. */
export function finishEmbedding(pooled: Float32Array, dimensions: number | null | undefined): Float32Array {
  const kept = pooled.slice(0, dimensions ?? pooled.length);
  const norm = Math.sqrt(kept.reduce((sum, x) => sum + x * x, 0));
  return norm > 0 ? kept.map((x) => x / norm) : kept;
}

function encode(vector: Float32Array, format: 'float' | 'base64'): number[] | string {
  if (format === 'float') return Array.from(vector);
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}

export function renderEmbeddings(request: EmbeddingsRequest, model: string, vectors: Float32Array[], numPromptTokens: number): Record<string, unknown> {
  const format = request.encoding_format ?? 'float';
  return {
    object: 'list',
    data: vectors.map((vector, index) => ({ object: 'embedding', index, embedding: encode(vector, format) })),
    model,
    usage: { prompt_tokens: numPromptTokens, total_tokens: numPromptTokens },
  };
}
