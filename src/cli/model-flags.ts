/** The model and engine flags every command that loads a model takes, spelled as vLLM spells them. */
import type { FlagSpecs, ParsedFlags } from './args.js';
import { UsageError } from './args.js';
import { parseSpeculativeConfig, SpeculativeConfigError, type SpeculativeConfig } from '../engine/speculative/config.js';
import { POOLING_MODES, type PoolingMode } from '../model/pooling-config.js';
import { isLmHeadDtype, LM_HEAD_DTYPES, type LmHeadDtype } from '../runtime/lm-head-dtype.js';
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
  model: { kind: 'string', aliases: ['--model-id-or-path'], help: 'model directory, hub id or model type', defaultText: 'the bundled demo model' },
  'model-type': { kind: 'string', help: "SWIFT's: a model type (see swiftlet models), used when --model is not given" },
  'infer-backend': { kind: 'string', help: "SWIFT's: pt and vllm both mean swiftlet's own engine (lmdeploy is not available)" },
  'torch-dtype': { kind: 'string', help: "SWIFT's: accepted (auto, bfloat16, float16, float32); swiftlet's kernels pick the compute precision" },
  'use-hf': { kind: 'boolean', help: 'download from Hugging Face (true) or ModelScope (false)', defaultText: 'the USE_HF variable, else Hugging Face' },
  'served-model-name': { kind: 'string', help: 'name the API reports and accepts for the base model' },
  'lora-modules': { kind: 'list', help: 'LoRA adapters as name=PATH (several, flag repeatable)' },
  'enable-lora': { kind: 'boolean', default: false, help: 'reserve adapter slots on the GPU for adapters loaded at run time (implied by --lora-modules; the CPU always has them)' },
  'max-loras': { kind: 'number', default: D.maxLoras, help: 'adapters resident at once' },
  'max-lora-rank': { kind: 'number', default: D.maxLoraRank, help: 'largest adapter rank accepted' },
  'max-model-len': { kind: 'number', help: 'longest context (prompt + output)', defaultText: "the model's" },
  device: { kind: 'string', default: D.device, help: 'cpu, cuda or auto' },
  'tensor-parallel-size': { kind: 'number', default: D.tensorParallelSize, aliases: ['-tp'], help: 'GPUs to shard the model over (with deploy --nnodes: processes, one rank each)' },
  'data-parallel-size': { kind: 'number', default: 1, aliases: ['-dp'], help: 'engine replicas behind the one API, each a child process with its share of --num-threads (CPU) or its own -tp GPUs' },
  'max-num-seqs': { kind: 'number', default: D.maxNumSeqs, aliases: ['--max-batch-size'], help: 'sequences in one engine step at most' },
  'max-num-batched-tokens': { kind: 'number', default: D.maxNumBatchedTokens, help: 'tokens in one engine step at most' },
  'kv-cache-memory': { kind: 'string', help: 'bytes for the KV cache, e.g. 2GiB', defaultText: '1GiB on the CPU; on a GPU what --gpu-memory-utilization leaves' },
  'gpu-memory-utilization': { kind: 'number', default: D.gpuMemoryUtilization, help: 'fraction of GPU memory swiftlet may use' },
  'enable-prefix-caching': { kind: 'boolean', default: D.enablePrefixCaching, help: 'reuse KV blocks of equal prompt prefixes' },
  'enable-chunked-prefill': { kind: 'boolean', default: D.enableChunkedPrefill, help: 'split long prompts over steps' },
  'long-prefill-token-threshold': { kind: 'number', help: 'most tokens of one prompt per step (0: no cap)', defaultText: 'a quarter of --max-num-batched-tokens' },
  'generation-config': { kind: 'string', default: 'auto', help: "'auto': sampling defaults from generation_config.json; 'vllm': ignore it" },
  'chat-template': { kind: 'string', aliases: ['--template-type'], help: 'a Jinja file or a built-in template name, instead of the tokenizer\'s' },
  'num-threads': { kind: 'number', help: 'CPU threads', defaultText: 'all cores' },
  'lm-head-dtype': {
    kind: 'string',
    default: 'auto',
    help: "CPU: the lm_head for the logits as stored ('auto'), or quantized at load to 'int8' / 'int4' (fewer bytes per token, logprobs move slightly; not faster on AVX2 hosts, docs/benchmarks.md)",
  },
  'max-waiting': { kind: 'number', default: D.maxWaiting, help: 'queued requests before new ones are refused' },
  'speculative-config': {
    kind: 'string',
    help: 'speculative decoding as JSON, e.g. \'{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":3}\' (prompt lookup; greedy requests only)',
  },
  'async-scheduling': {
    kind: 'boolean',
    default: false,
    help: 'launch each engine step before the previous one has returned, hiding the host work behind the device',
  },
  pooling: { kind: 'string', help: "embeddings' pooling: last or mean", defaultText: "the model's 1_Pooling/config.json, else last" },
};

/** SWIFT's two backends run on swiftlet's engine; the third is refused with what to do instead. */
const SWIFT_BACKENDS: ReadonlySet<string> = new Set(['pt', 'vllm']);
const TORCH_DTYPES: ReadonlySet<string> = new Set(['auto', 'bfloat16', 'float16', 'float32', 'bf16', 'fp16', 'fp32']);

function checkSwiftFlags(flags: ParsedFlags): void {
  const backend = flags['infer-backend'] as string | undefined;
  if (backend === 'lmdeploy') throw new UsageError("--infer_backend lmdeploy is not available: leave it out (or use pt or vllm), swiftlet's own engine serves every request");
  if (backend !== undefined && !SWIFT_BACKENDS.has(backend)) throw new UsageError(`--infer_backend must be pt or vllm (both: swiftlet's engine), got "${backend}"`);
  const dtype = flags['torch-dtype'] as string | undefined;
  if (dtype !== undefined && !TORCH_DTYPES.has(dtype)) throw new UsageError(`--torch_dtype must be one of ${[...TORCH_DTYPES].join(', ')}, got "${dtype}"`);
}

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

function speculativeConfigOf(flags: ParsedFlags): SpeculativeConfig | null {
  const text = flags['speculative-config'] as string | undefined;
  if (text === undefined) return null;
  try {
    return parseSpeculativeConfig(text);
  } catch (error) {
    if (error instanceof SpeculativeConfigError) throw new UsageError(`--speculative-config: ${error.message}`);
    throw error;
  }
}

function poolingFlag(value: string | undefined): PoolingMode | undefined {
  if (value === undefined) return undefined;
  if (!(POOLING_MODES as readonly string[]).includes(value)) throw new UsageError(`--pooling must be one of ${POOLING_MODES.join(', ')}`);
  return value as PoolingMode;
}

function lmHeadDtypeFlag(value: string): LmHeadDtype {
  if (!isLmHeadDtype(value)) throw new UsageError(`--lm-head-dtype must be one of ${LM_HEAD_DTYPES.join(', ')}, got "${value}"`);
  return value;
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
  checkSwiftFlags(flags);
  const kvCacheMemory = flags['kv-cache-memory'] as string | undefined;
  return {
    // NOTE: SWIFT gives a type and a path together; the path says more, so it wins.
    model: (flags['model'] as string | undefined) ?? (flags['model-type'] as string | undefined),
    hub: flags['use-hf'] === undefined ? undefined : flags['use-hf'] === true ? 'huggingface' : 'modelscope',
    servedModelName: flags['served-model-name'] as string | undefined,
    loraModules: parseLoraModules((flags['lora-modules'] as string[] | undefined) ?? []),
    enableLora: flags['enable-lora'] as boolean,
    maxLoras: positive(flags, 'max-loras'),
    maxLoraRank: positive(flags, 'max-lora-rank'),
    maxModelLen,
    device,
    tensorParallelSize: positive(flags, 'tensor-parallel-size'),
    dataParallelSize: positive(flags, 'data-parallel-size'),
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
    lmHeadDtype: lmHeadDtypeFlag(flags['lm-head-dtype'] as string),
    maxWaiting: positive(flags, 'max-waiting'),
    speculativeConfig: speculativeConfigOf(flags),
    asyncScheduling: flags['async-scheduling'] as boolean,
    pooling: poolingFlag(flags['pooling'] as string | undefined),
  };
}
