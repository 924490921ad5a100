/** The files of a Hugging Face checkpoint directory besides its weights. */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ModelLoadError } from './errors.js';

/** Tokenizer, template and generation files: fetched with a model, copied by exports. */
export const CHECKPOINT_SIDE_FILES: readonly string[] = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'chat_template.jinja',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'qwen.tiktoken',
];

/** Creates `outputDir`, refusing one of `inputDirs` (described as `inputs` in the error) or a directory with files in it. */
export function prepareOutputDir(outputDir: string, inputDirs: readonly string[], inputs: string): void {
  const output = resolve(outputDir);
  if (inputDirs.some((dir) => resolve(dir) === output)) throw new ModelLoadError(`--output must be a new directory, not ${inputs}`);
  if (existsSync(output) && readdirSync(output).length > 0) throw new ModelLoadError(`output directory ${outputDir} exists and is not empty`);
  mkdirSync(output, { recursive: true });
}
