/**
 * Sampling defaults a checkpoint ships in generation_config.json. As vLLM does with
 * `--generation-config auto`, they apply to requests that leave the field out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SamplingDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  maxTokens?: number;
}

const FIELDS: [keyof SamplingDefaults, string][] = [
  ['temperature', 'temperature'],
  ['topP', 'top_p'],
  ['topK', 'top_k'],
  ['minP', 'min_p'],
  ['repetitionPenalty', 'repetition_penalty'],
  ['maxTokens', 'max_new_tokens'],
];

export function samplingDefaultsFrom(generationConfig: Record<string, unknown>): SamplingDefaults {
  const defaults: SamplingDefaults = {};
  for (const [field, key] of FIELDS) {
    const value = generationConfig[key];
    if (typeof value === 'number') defaults[field] = value;
  }
  return defaults;
}

export function loadSamplingDefaults(modelDir: string): SamplingDefaults {
  const path = join(modelDir, 'generation_config.json');
  if (!existsSync(path)) return {};
  return samplingDefaultsFrom(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>);
}
