/** `embed()` of the library Engine and the Client: one shape, over the /v1/embeddings body both send. */

/** A text, texts, or prompts as token ids. */
export type EmbedInput = string | readonly string[] | readonly (readonly number[])[];

export interface EmbedOptions {
  /** Keep the first N dimensions (renormalised), for models trained for it (Matryoshka). */
  dimensions?: number;
  /** The base model's or an adapter's name (default: the base model, or the client's model). */
  model?: string;
  signal?: AbortSignal;
}

export interface EmbedResult {
  /** One unit-length vector per input, in input order. */
  embeddings: number[][];
  promptTokens: number;
}

export function embeddingsBody(input: EmbedInput, options: EmbedOptions, model: string | undefined): Record<string, unknown> {
  return { input, encoding_format: 'float', ...(options.dimensions === undefined ? {} : { dimensions: options.dimensions }), ...(model === undefined ? {} : { model }) };
}

export function embedResultOf(body: Record<string, unknown>): EmbedResult {
  const data = (body['data'] ?? []) as { index: number; embedding: number[] }[];
  const usage = (body['usage'] ?? {}) as { prompt_tokens?: number };
  return { embeddings: [...data].sort((a, b) => a.index - b.index).map((entry) => entry.embedding), promptTokens: usage.prompt_tokens ?? 0 };
}
