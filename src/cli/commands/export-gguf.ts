/**
 * `swiftlet export --to-gguf --model DIR --output FILE.gguf [--outtype bf16]`: the flags
 * export.ts adds for GGUF, and the export itself (src/model/gguf/export-gguf.ts).
 */
import { UsageError, type FlagSpecs, type ParsedFlags } from '../args.js';
import { resolveModelDir } from '../../host/resolve-model.js';
import { exportGguf, GGUF_OUT_TYPES, type GgufOutType } from '../../model/gguf/export-gguf.js';
import { tensorProgress } from '../tensor-progress.js';

export const GGUF_FLAGS: FlagSpecs = {
  'to-gguf': { kind: 'boolean', help: 'write one GGUF file (llama.cpp, Ollama) to --output FILE.gguf' },
  outtype: { kind: 'string', default: 'bf16', help: `--to-gguf: tensor type of the matrices: ${GGUF_OUT_TYPES.join(', ')} (vectors stay f32)` },
  'tokenizer-pre': { kind: 'string', help: '--to-gguf: llama.cpp pre-tokenizer name', defaultText: "derived from tokenizer.json's split regex" },
};

export async function toGgufCommand(flags: ParsedFlags): Promise<number> {
  const output = flags['output'] as string | undefined;
  if (output === undefined) throw new UsageError('--to-gguf needs --output FILE.gguf');
  const outType = flags['outtype'] as string;
  if (!(GGUF_OUT_TYPES as readonly string[]).includes(outType)) throw new UsageError(`--outtype must be one of ${GGUF_OUT_TYPES.join(', ')}`);
  const modelDir = await resolveModelDir(flags['model'] as string | undefined);
  const tokenizerPre = flags['tokenizer-pre'] as string | undefined;
  const progress = tensorProgress();
  const result = exportGguf({
    modelDir,
    outputPath: output,
    outType: outType as GgufOutType,
    ...(tokenizerPre !== undefined ? { tokenizerPre } : {}),
    onTensor: progress.onTensor,
  });
  const seconds = progress.elapsedSeconds();
  console.error(`wrote ${output}: ${result.spec.hfArchitecture} as GGUF ${outType}, ${result.numTensors} tensors, ${(result.bytes / 2 ** 20).toFixed(1)} MiB in ${seconds} s`);
  return 0;
}
