/**
 * Which files of a hub repository swiftlet downloads: the config, the generation config, the
 * tokenizer files and the safetensors weights, nothing else (no .bin / .pth duplicates, no
 * Mistral `consolidated.safetensors`, no `original/` folder).
 */
import { CHECKPOINT_SIDE_FILES } from '../checkpoint-files.js';
import { ModelLoadError } from '../errors.js';

/** Small files taken when present; config.json and one of the tokenizer files are required. */
const METADATA_FILES = new Set(['config.json', ...CHECKPOINT_SIDE_FILES]);

/** tokenizer.json, Qwen v1's BPE ranks, SentencePiece (ChatGLM3). */
const TOKENIZER_FILES = ['tokenizer.json', 'qwen.tiktoken', 'tokenizer.model'];

export const WEIGHTS_INDEX = 'model.safetensors.index.json';
const SINGLE_WEIGHTS = 'model.safetensors';

/**
 * The metadata files to fetch first, from a repository's top-level file names; the weights
 * follow from `weightFiles` once the index (if any) has been read.
 */
export function metadataFiles(hubId: string, names: readonly string[]): string[] {
  const present = new Set(names);
  if (!present.has('config.json')) throw new ModelLoadError(`${hubId} has no config.json`);
  if (!TOKENIZER_FILES.some((name) => present.has(name))) {
    throw new ModelLoadError(`${hubId} has no ${TOKENIZER_FILES.join(', ')} (the tokenizer formats swiftlet reads)`);
  }
  if (!present.has(WEIGHTS_INDEX) && !present.has(SINGLE_WEIGHTS)) {
    throw new ModelLoadError(`${hubId} has no ${SINGLE_WEIGHTS} or ${WEIGHTS_INDEX} (swiftlet reads only safetensors weights)`);
  }
  return names.filter((name) => METADATA_FILES.has(name) || name === WEIGHTS_INDEX);
}

/** The safetensors files: the shards the index names, or the single file. */
export function weightFiles(hubId: string, names: readonly string[], indexJson: string | undefined): string[] {
  if (indexJson === undefined) return [SINGLE_WEIGHTS];
  let weightMap: Record<string, string>;
  try {
    weightMap = (JSON.parse(indexJson) as { weight_map: Record<string, string> }).weight_map;
  } catch (error) {
    throw new ModelLoadError(`${hubId}: ${WEIGHTS_INDEX} is not valid JSON: ${(error as Error).message}`);
  }
  const shards = [...new Set(Object.values(weightMap ?? {}))].sort();
  const present = new Set(names);
  const missing = shards.filter((shard) => !present.has(shard));
  if (shards.length === 0 || missing.length > 0) {
    throw new ModelLoadError(`${hubId}: ${WEIGHTS_INDEX} names shards the repository lacks: ${missing.join(', ') || '(none listed)'}`);
  }
  return shards;
}
