/**
 * `swiftlet export`: write a checkpoint in another form. Each form is one function
 * elsewhere; this file maps flags to it.
 *   --to-gguf     one GGUF file for llama.cpp / Ollama (export-gguf.ts, src/model/gguf/)
 *   --merge-lora  a full checkpoint with a LoRA adapter folded in (export-merge-lora.ts)
 *   --quant-bits  a GPTQ checkpoint with 4- or 8-bit weights (export-quant.ts, src/model/quant/)
 */
import { helpText, parseFlags, UsageError, type FlagSpecs } from '../args.js';
import { GGUF_FLAGS, toGgufCommand } from './export-gguf.js';
import { MERGE_LORA_FLAGS, mergeLoraCommand } from './export-merge-lora.js';
import { QUANT_FLAGS, quantCommand } from './export-quant.js';

/** Exported for test/cli-help.test.ts, which checks the help lists every one. */
export const FLAGS: FlagSpecs = {
  model: { kind: 'string', help: 'checkpoint directory (config.json, safetensors, tokenizer.json)' },
  output: { kind: 'string', aliases: ['-o', '--output-dir'], help: 'the file (GGUF) or directory (--merge-lora) to write' },
  ...GGUF_FLAGS,
  ...MERGE_LORA_FLAGS,
  ...QUANT_FLAGS,
  help: { kind: 'boolean', aliases: ['-h'], help: 'show this help' },
};

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, FLAGS);
  if (flags['help']) {
    console.log(helpText('export', 'Write a checkpoint in another format (--to-gguf), with a LoRA adapter merged in (--merge-lora), or quantized (--quant-bits).', FLAGS));
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const forms = ['to-gguf', 'merge-lora', 'quant-bits'].filter((form) => flags[form] !== undefined && flags[form] !== false);
  if (forms.length > 1) throw new UsageError('give one of --to-gguf, --merge-lora and --quant-bits');
  if (flags['to-gguf']) return toGgufCommand(flags);
  if (flags['merge-lora']) return mergeLoraCommand(flags);
  if (flags['quant-bits'] !== undefined) return quantCommand(flags);
  throw new UsageError('nothing to do: give --to-gguf, --merge-lora or --quant-bits (see --help)');
}
