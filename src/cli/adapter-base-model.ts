/**
 * Adapters given without --model: the model they were trained on (PEFT's
 * `base_model_name_or_path`), not the bundled demo, whose shapes they would not fit.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { UsageError } from './args.js';
import type { ModelOptions } from './model-flags.js';

function baseModelOf(adapterPath: string): string | undefined {
  try {
    const config = JSON.parse(readFileSync(join(adapterPath, 'adapter_config.json'), 'utf8')) as { base_model_name_or_path?: unknown };
    const base = config.base_model_name_or_path;
    return typeof base === 'string' && base !== '' ? base : undefined;
  } catch {
    return undefined;
  }
}

/** Sets options.model from the first adapter when --model is not given; a usage error when that cannot be done. */
export function modelForAdapters(options: ModelOptions, log: (message: string) => void): void {
  const first = options.loraModules[0];
  if (options.model !== undefined || first === undefined) return;
  const base = baseModelOf(first.path);
  const fix = 'give --model (the model the adapter was trained on)';
  if (base === undefined) throw new UsageError(`adapter '${first.name}' came without --model, and its adapter_config.json names no base_model_name_or_path: ${fix}`);
  // NOTE: an absolute path is a directory on the machine the adapter was trained on; it may not be here.
  if (isAbsolute(base) && !existsSync(base)) throw new UsageError(`adapter '${first.name}' was trained on ${base} (its base_model_name_or_path), which is not on this machine: ${fix}`);
  log(`no --model: using ${base}, the base model of adapter '${first.name}'`);
  options.model = base;
}
