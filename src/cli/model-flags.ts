/** The model and engine flags every command that loads a model takes, spelled as vLLM spells them. */
import type { FlagSpecs, ParsedFlags } from './args.js';
import { UsageError } from './args.js';
import { DEFAULT_MODEL_OPTIONS as D, parseBytes as parseSize, SizeError, type ModelOptions } from '../host/model-options.js';

export type { ModelOptions };

/** A size flag (e.g. `2GiB`); a malformed one is the user's usage mistake. */
export function parseBytes(text: string): number {
  try {
    return parseSize(text);
  } catch (error) {
    if (error instanceof SizeError) throw new UsageError(error.message);
    throw error;
  }
}

export const MODEL_FLAGS: FlagSpecs = {
  model: { kind: 'string', help: 'model directory, hub id or model type (default: the bundled demo model)' },
  'use-hf': { kind: 'boolean', help: 'download from Hugging Face (true) or ModelScope (false); default: the USE_HF variable, else Hugging Face' },
  'served-model-name': { kind: 'string', help: 'name the API reports and accepts for the base model' },
  'lora-modules': { kind: 'list', help: 'LoRA adapters as name=PATH (several, flag repeatable)' },
  'enable-lora': { kind: 'boolean', default: false, help: 'reserve adapter slots on the GPU for adapters loaded at run time (implied by --lora-modules; the CPU always has them)' },
  'max-loras': { kind: 'number', default: D.maxLoras, help: 'adapters resident at once' },
  'max-lora-rank': { kind: 'number', default: D.maxLoraRank, help: 'largest adapter rank accepted' },
  'max-model-len': { kind: 'number', help: 'longest context (prompt + output); default: the model\'s' },
  device: { kind: 'string', default: D.device, help: 'cpu, cuda or auto' },
  'tensor-parallel-size': { kind: 'number', default: D.tensorParallelSize, aliases: ['-tp'], help: 'GPUs to shard the model over' },
  'max-num-seqs': { kind: 'number', default: D.maxNumSeqs, help: 'sequences in one engine step at most' },
  'max-num-batched-tokens': { kind: 'number', default: D.maxNumBatchedTokens, help: 'tokens in one engine step at most' },
  'kv-cache-memory': { kind: 'string', help: 'bytes for the KV cache, e.g. 2GiB (CPU default: 1GiB)' },
  'gpu-memory-utilization': { kind: 'number', default: D.gpuMemoryUtilization, help: 'fraction of GPU memory swiftlet may use' },
  'enable-prefix-caching': { kind: 'boolean', default: D.enablePrefixCaching, help: 'reuse KV blocks of equal prompt prefixes' },
  'enable-chunked-prefill': { kind: 'boolean', default: D.enableChunkedPrefill, help: 'split long prompts over steps' },
  'long-prefill-token-threshold': { kind: 'number', help: 'most tokens of one prompt per step (default: a quarter of --max-num-batched-tokens; 0: no cap)' },
  'generation-config': { kind: 'string', default: 'auto', help: "'auto': sampling defaults from generation_config.json; 'vllm': ignore it" },
  'chat-template': { kind: 'string', help: 'a Jinja file or a built-in template name, instead of the tokenizer\'s' },
  'num-threads': { kind: 'number', help: 'CPU threads (default: all cores)' },
  'max-waiting': { kind: 'number', default: D.maxWaiting, help: 'queued requests before new ones are refused' },
};



/** `name=path` pairs; vLLM also accepts a JSON object per module, which we take too. */
function parseLoraModules(values: string[]): { name: string; path: string }[] {
  return values.map((value) => {
    if (value.startsWith('{')) {
      const parsed = JSON.parse(value) as { name?: string; path?: string };
      if (!parsed.name || !parsed.path) throw new UsageError(`--lora-modules JSON needs "name" and "path": ${value}`);
      return { name: parsed.name, path: parsed.path };
    }
    const eq = value.indexOf('=');
    if (eq <= 0 || eq === value.length - 1) throw new UsageError(`--lora-modules expects name=PATH, got "${value}"`);
    return { name: value.slice(0, eq), path: value.slice(eq + 1) };
  });
}

function positive(flags: ParsedFlags, name: string): number {
  const value = flags[name] as number;
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be a positive integer`);
  return value;
}

export function modelOptionsFrom(flags: ParsedFlags): ModelOptions {
  const device = flags['device'] as string;
  if (device !== 'cpu' && device !== 'cuda' && device !== 'auto') throw new UsageError(`--device must be cpu, cuda or auto`);
  const generationConfig = flags['generation-config'] as string;
  if (generationConfig !== 'auto' && generationConfig !== 'vllm') throw new UsageError(`--generation-config must be auto or vllm`);
  const maxModelLen = flags['max-model-len'] as number | undefined;
  if (maxModelLen !== undefined && (!Number.isInteger(maxModelLen) || maxModelLen < 1)) {
    throw new UsageError('--max-model-len must be a positive integer');
  }
  const kvCacheMemory = flags['kv-cache-memory'] as string | undefined;
  return {
    model: flags['model'] as string | undefined,
    hub: flags['use-hf'] === undefined ? undefined : flags['use-hf'] === true ? 'huggingface' : 'modelscope',
    servedModelName: flags['served-model-name'] as string | undefined,
    loraModules: parseLoraModules((flags['lora-modules'] as string[] | undefined) ?? []),
    enableLora: flags['enable-lora'] as boolean,
    maxLoras: positive(flags, 'max-loras'),
    maxLoraRank: positive(flags, 'max-lora-rank'),
    maxModelLen,
    device,
    tensorParallelSize: positive(flags, 'tensor-parallel-size'),
    maxNumSeqs: positive(flags, 'max-num-seqs'),
    maxNumBatchedTokens: positive(flags, 'max-num-batched-tokens'),
    kvCacheBytes: kvCacheMemory === undefined ? undefined : parseBytes(kvCacheMemory),
    gpuMemoryUtilization: flags['gpu-memory-utilization'] as number,
    enablePrefixCaching: flags['enable-prefix-caching'] as boolean,
    enableChunkedPrefill: flags['enable-chunked-prefill'] as boolean,
    longPrefillTokenThreshold: flags['long-prefill-token-threshold'] as number | undefined,
    useGenerationConfig: generationConfig === 'auto',
    chatTemplate: flags['chat-template'] as string | undefined,
    numThreads: flags['num-threads'] as number | undefined,
    maxWaiting: positive(flags, 'max-waiting'),
  };
}
