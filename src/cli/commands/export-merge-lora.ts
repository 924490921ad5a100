/**
 * `swiftlet export --merge-lora --model BASE --adapter DIR --output DIR [--dtype D] [--max-shard-size 5GB]`:
 * the flags export.ts adds for merging, and the merge itself (src/model/merge-lora.ts).
 */
import { UsageError, type FlagSpecs, type ParsedFlags } from '../args.js';
import { parseBytes } from '../model-flags.js';
import { resolveModelDir } from '../../host/resolve-model.js';
import { DEFAULT_MAX_SHARD_BYTES, mergeLora } from '../../model/merge-lora.js';
import { formatBytes } from '../../model/hub/progress.js';
import type { WeightDtype } from '../../model/spec.js';
import { tensorProgress } from '../tensor-progress.js';

export const MERGE_LORA_FLAGS: FlagSpecs = {
  'merge-lora': { kind: 'boolean', help: 'fold a LoRA adapter (--adapter) into the model and write a full checkpoint to --output DIR' },
  adapter: { kind: 'string', aliases: ['--adapters', '--ckpt-dir'], help: '--merge-lora: the PEFT adapter directory' },
  dtype: { kind: 'string', help: '--merge-lora: bfloat16, float16 or float32', defaultText: "the model's" },
  'max-shard-size': { kind: 'string', default: '5GB', help: '--merge-lora: largest safetensors shard, e.g. 5GB, 500MB' },
};

const DTYPES: Record<string, WeightDtype> = {
  bfloat16: 'bfloat16',
  bf16: 'bfloat16',
  float16: 'float16',
  fp16: 'float16',
  half: 'float16',
  float32: 'float32',
  fp32: 'float32',
  float: 'float32',
};

export async function mergeLoraCommand(flags: ParsedFlags): Promise<number> {
  const output = flags['output'] as string | undefined;
  const adapterDir = flags['adapter'] as string | undefined;
  if (output === undefined) throw new UsageError('--merge-lora needs --output DIR');
  if (adapterDir === undefined) throw new UsageError('--merge-lora needs --adapter DIR (a PEFT LoRA adapter)');
  const dtypeName = flags['dtype'] as string | undefined;
  const dtype = dtypeName === undefined ? undefined : DTYPES[dtypeName.toLowerCase()];
  if (dtypeName !== undefined && dtype === undefined) throw new UsageError('--dtype must be bfloat16, float16 or float32');
  const maxShardBytes = parseBytes((flags['max-shard-size'] as string | undefined) ?? String(DEFAULT_MAX_SHARD_BYTES));
  if (maxShardBytes < 1) throw new UsageError('--max-shard-size must be positive');
  const baseDir = await resolveModelDir(flags['model'] as string | undefined);
  const progress = tensorProgress();
  const result = mergeLora({
    baseDir,
    adapterDir,
    outputDir: output,
    ...(dtype !== undefined ? { dtype } : {}),
    maxShardBytes,
    onTensor: progress.onTensor,
  });
  const seconds = progress.elapsedSeconds();
  const shards = result.files.filter((file) => file.endsWith('.safetensors')).length;
  console.error(
    `wrote ${output}: ${result.numTensors} tensors in ${result.dtype} (${result.numMerged} with the adapter folded in), ` +
      `${shards} shard(s), ${formatBytes(result.bytes)} in ${seconds} s`,
  );
  return 0;
}
