/**
 * How a model's embeddings are pooled: `--pooling` when given, else the sentence-transformers
 * config a checkpoint ships (`1_Pooling/config.json`: `pooling_mode_lasttoken`, as
 * Qwen3-Embedding, or `pooling_mode_mean_tokens`), else the last token (vLLM's default for
 * decoder models).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from './errors.js';

/** The last prompt token's final hidden state, or the mean over every prompt token's. */
export type PoolingMode = 'last' | 'mean';

export const POOLING_MODES: readonly PoolingMode[] = ['last', 'mean'];

function sentenceTransformersMode(modelDir: string): PoolingMode | null {
  const path = join(modelDir, '1_Pooling', 'config.json');
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ModelLoadError(`${path}: ${(error as Error).message}`);
  }
  if (config['pooling_mode_lasttoken'] === true) return 'last';
  if (config['pooling_mode_mean_tokens'] === true) return 'mean';
  const named = Object.keys(config).filter((key) => key.startsWith('pooling_mode_') && config[key] === true);
  throw new ModelLoadError(`${path}: pooling ${named.join(', ') || '(none)'} is not supported (last token or mean); pass --pooling`);
}

export function poolingModeOf(modelDir: string, requested: PoolingMode | undefined): PoolingMode {
  return requested ?? sentenceTransformersMode(modelDir) ?? 'last';
}
