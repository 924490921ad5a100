/**
 * Where a LoRA adapter may be loaded from at run time (/v1/load_lora_adapter): only from
 * directories under the `--lora-root` directories the operator named. The request's path and
 * every file read from it are resolved through symlinks and must stay under a root, and the
 * files are size-checked before anything is read, so a request can neither read a file
 * outside the roots (nor learn whether one exists) nor make the server read a huge one.
 * Adapters named at start-up (--lora-modules) are the operator's own and skip this.
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { ModelSpec } from '../model/spec.js';
import { AdapterError } from './adapters.js';

/** The files of a PEFT adapter that readLoraAdapter opens. */
const CONFIG_FILE = 'adapter_config.json';
const WEIGHTS_FILE = 'adapter_model.safetensors';
const MAX_CONFIG_BYTES = 1024 * 1024;
/** NOTE: room for the safetensors header and metadata beyond the tensors themselves. */
const HEADER_SLACK_BYTES = 16 * 1024 * 1024;

/**
 * The largest adapter_model.safetensors a rank-`maxRank` adapter of this model can need: every
 * projection of every layer (7), A and B in fp32.
 */
export function maxAdapterWeightBytes(spec: ModelSpec, maxRank: number): number {
  const widest = Math.max(spec.intermediateSize, spec.numHeads * spec.headDim);
  return spec.numLayers * 7 * maxRank * (spec.hiddenSize + widest) * 4 + HEADER_SLACK_BYTES;
}

function isUnder(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

export class AdapterPathPolicy {
  private readonly roots: string[];

  /** `roots` must exist: they are resolved once, at start-up. */
  constructor(roots: readonly string[], private readonly maxWeightBytes: number) {
    this.roots = roots.map((root) => realpathSync(root));
  }

  /** The adapter directory to read for a requested `lora_path`, or an AdapterError that names nothing outside the roots. */
  check(requested: string): string {
    if (this.roots.length === 0) throw new AdapterError('loading adapters at run time needs the server started with --lora-root DIR', 400);
    const outside = new AdapterError('lora_path must be a directory under one of the server\'s --lora-root directories', 400);
    const lexical = resolve(this.roots[0] as string, requested);
    const root = this.roots.find((candidate) => isUnder(lexical, candidate));
    if (root === undefined) throw outside;
    const shown = relative(root, lexical) || '.';
    let directory: string;
    try {
      directory = realpathSync(lexical);
    } catch {
      throw new AdapterError(`no adapter directory '${shown}' under the --lora-root`, 400);
    }
    if (!this.roots.some((candidate) => isUnder(directory, candidate))) throw outside;
    this.checkFile(directory, CONFIG_FILE, MAX_CONFIG_BYTES, shown);
    this.checkFile(directory, WEIGHTS_FILE, this.maxWeightBytes, shown);
    return directory;
  }

  private checkFile(directory: string, name: string, maxBytes: number, shown: string): void {
    let path: string;
    try {
      path = realpathSync(join(directory, name));
    } catch {
      throw new AdapterError(`'${shown}' has no ${name}`, 400);
    }
    if (!this.roots.some((root) => isUnder(path, root))) throw new AdapterError(`'${shown}/${name}' leads outside the --lora-root directories`, 400);
    const stat = statSync(path);
    if (!stat.isFile()) throw new AdapterError(`'${shown}/${name}' is not a file`, 400);
    if (stat.size > maxBytes) throw new AdapterError(`'${shown}/${name}' is ${stat.size} bytes, more than an adapter of this model within --max-lora-rank can need (${maxBytes})`, 400);
  }
}
