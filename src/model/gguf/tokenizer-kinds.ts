/**
 * The tokenizer files each family ships, and the writer that turns them into llama.cpp's
 * `tokenizer.*` keys (the same choice model/tokenizer.ts makes when it loads them).
 */
import type { ModelSpec } from '../spec.js';
import { setChatGlmTokenizerMetadata } from './chatglm-tokenizer-metadata.js';
import type { GgufBuilder } from './gguf-file.js';
import { setQwenTiktokenMetadata } from './qwen-tiktoken-metadata.js';
import { setTokenizerMetadata, type TokenizerMetadataOptions } from './tokenizer-metadata.js';

type TokenizerWriter = (gguf: GgufBuilder, dir: string, spec: ModelSpec, options: TokenizerMetadataOptions) => void;

/** Families whose tokenizer is not a `tokenizer.json`. */
const WRITERS: Partial<Record<ModelSpec['family'], TokenizerWriter>> = {
  qwen: setQwenTiktokenMetadata,
  chatglm: setChatGlmTokenizerMetadata,
};

export function setFamilyTokenizerMetadata(gguf: GgufBuilder, dir: string, spec: ModelSpec, options: TokenizerMetadataOptions): void {
  (WRITERS[spec.family] ?? setTokenizerMetadata)(gguf, dir, spec, options);
}
