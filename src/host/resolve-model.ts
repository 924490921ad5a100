/** `--model` to a local checkpoint directory. */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ModelLoadError } from '../model/errors.js';

export async function resolveModelDir(model: string | undefined): Promise<string> {
  if (model === undefined) throw new ModelLoadError('no --model given');
  const dir = resolve(model);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelLoadError(`model directory not found: ${model}`);
  return dir;
}
