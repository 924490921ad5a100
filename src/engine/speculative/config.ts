/**
 * Speculative decoding settings, read from vLLM's `--speculative-config` JSON. Only the
 * `ngram` method (prompt lookup) exists: it needs no draft model, so it fits any checkpoint.
 */

export interface SpeculativeConfig {
  method: 'ngram';
  /** Draft tokens proposed per sequence and step (vLLM's num_speculative_tokens). */
  numSpeculativeTokens: number;
  /** Longest n-gram looked up (prompt_lookup_max); longer matches are tried first. */
  promptLookupMax: number;
  /** Shortest n-gram looked up (prompt_lookup_min). */
  promptLookupMin: number;
}

export class SpeculativeConfigError extends Error {
  override name = 'SpeculativeConfigError';
}

/** The keys vLLM's JSON uses, as they arrive. */
const KEYS = ['method', 'num_speculative_tokens', 'prompt_lookup_max', 'prompt_lookup_min'] as const;

function positiveInteger(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new SpeculativeConfigError(`speculative config: ${key} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** With neither lookup bound given, 5-grams only; one bound given stands for both. */
const DEFAULT_LOOKUP = 5;

/** A parsed `--speculative-config` object, checked key by key (a typo is an error, not a silent default). */
export function speculativeConfigFrom(json: unknown): SpeculativeConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SpeculativeConfigError('speculative config must be a JSON object');
  }
  const fields = json as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!(KEYS as readonly string[]).includes(key)) throw new SpeculativeConfigError(`speculative config: unknown key "${key}" (known: ${KEYS.join(', ')})`);
  }
  if (fields['method'] !== 'ngram') {
    throw new SpeculativeConfigError(`speculative config: method must be "ngram" (prompt lookup; no draft models), got ${JSON.stringify(fields['method'])}`);
  }
  const numSpeculativeTokens = positiveInteger(fields['num_speculative_tokens'], 'num_speculative_tokens');
  const max = fields['prompt_lookup_max'];
  const min = fields['prompt_lookup_min'];
  const promptLookupMax = positiveInteger(max ?? min ?? DEFAULT_LOOKUP, 'prompt_lookup_max');
  const promptLookupMin = positiveInteger(min ?? max ?? DEFAULT_LOOKUP, 'prompt_lookup_min');
  if (promptLookupMin > promptLookupMax) {
    throw new SpeculativeConfigError(`speculative config: prompt_lookup_min ${promptLookupMin} exceeds prompt_lookup_max ${promptLookupMax}`);
  }
  return { method: 'ngram', numSpeculativeTokens, promptLookupMax, promptLookupMin };
}

/** The `--speculative-config` flag's text. */
export function parseSpeculativeConfig(text: string): SpeculativeConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SpeculativeConfigError(`speculative config is not JSON: ${text}`);
  }
  return speculativeConfigFrom(json);
}
