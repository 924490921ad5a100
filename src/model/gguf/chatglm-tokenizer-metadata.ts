/**
 * ChatGLM3's SentencePiece `tokenizer.model` plus tokenization_chatglm.py's nine added tokens
 * as llama.cpp's SentencePiece (`llama`) keys: pieces with their scores and types (the added
 * ones control tokens), rows past them `[PAD<id>]`. Nothing is added automatically: the
 * `[gMASK]sop` prefix belongs to the chat prompt, as llama.cpp's chatglm3 chat template writes it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from '../errors.js';
import { SENTENCEPIECE_FILE, SPECIAL_TOKENS } from '../tokenizers/chatglm.js';
import { PieceType, readSentencePieceModel, type SentencePieceModel } from '../tokenizers/sentencepiece-model.js';
import type { ModelSpec } from '../spec.js';
import type { GgufBuilder } from './gguf-file.js';
import type { TokenizerMetadataOptions } from './tokenizer-metadata.js';
import { GgufVocabulary, TOKEN_TYPE, type TokenType } from './vocabulary.js';

/** What llama.cpp's converter names ChatGLM3's pre-tokenizer (llama.cpp reads no pre-tokenizer for SentencePiece). */
const CHATGLM3_PRE_TOKENIZER = 'chatglm-spm';

const TYPE_OF_PIECE: Record<PieceType, TokenType> = {
  [PieceType.Normal]: TOKEN_TYPE.normal,
  [PieceType.Unknown]: TOKEN_TYPE.unknown,
  [PieceType.Control]: TOKEN_TYPE.control,
  [PieceType.UserDefined]: TOKEN_TYPE.userDefined,
  [PieceType.Unused]: TOKEN_TYPE.unused,
  [PieceType.Byte]: TOKEN_TYPE.byte,
};

function readModel(dir: string): SentencePieceModel {
  const path = join(dir, SENTENCEPIECE_FILE);
  try {
    return readSentencePieceModel(readFileSync(path));
  } catch (error) {
    throw new ModelLoadError(`GGUF export: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Sets the `tokenizer.*` keys from `tokenizer.model` in `dir`. */
export function setChatGlmTokenizerMetadata(gguf: GgufBuilder, dir: string, spec: ModelSpec, options: TokenizerMetadataOptions = {}): void {
  const model = readModel(dir);
  // NOTE: llama.cpp's SentencePiece tokenizer only replaces spaces by U+2581 (and adds the prefix
  // space); a model that also normalises text would tokenize otherwise there.
  if (model.hasCharsMap || model.removeExtraWhitespaces) {
    throw new ModelLoadError(`GGUF export: ${SENTENCEPIECE_FILE} normalises text (${model.normalizerName}), which llama.cpp's SentencePiece tokenizer does not`);
  }
  const vocabulary = new GgufVocabulary(spec.vocabSize);
  model.pieces.forEach(({ piece, score, type }, id) => vocabulary.place(id, piece, TYPE_OF_PIECE[type], score));
  SPECIAL_TOKENS.forEach((token, index) => vocabulary.place(model.pieces.length + index, token, TOKEN_TYPE.control));
  const idOfType = (type: PieceType) => model.pieces.findIndex((piece) => piece.type === type);
  const eos = model.pieces.findIndex((piece) => piece.piece === '</s>');

  gguf.set('tokenizer.ggml.model', { type: 'string', value: 'llama' });
  gguf.set('tokenizer.ggml.pre', { type: 'string', value: options.tokenizerPre ?? CHATGLM3_PRE_TOKENIZER });
  gguf.set('tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: vocabulary.list() });
  gguf.set('tokenizer.ggml.scores', { type: 'array', itemType: 'float32', value: vocabulary.scores });
  gguf.set('tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: vocabulary.types });
  if (eos >= 0) gguf.set('tokenizer.ggml.eos_token_id', { type: 'uint32', value: eos });
  const unknown = idOfType(PieceType.Unknown);
  if (unknown >= 0) {
    gguf.set('tokenizer.ggml.unknown_token_id', { type: 'uint32', value: unknown });
    // NOTE: tokenization_chatglm.py pads with <unk>.
    gguf.set('tokenizer.ggml.padding_token_id', { type: 'uint32', value: unknown });
  }
  gguf.set('tokenizer.ggml.add_space_prefix', { type: 'bool', value: model.addDummyPrefix });
  gguf.set('tokenizer.ggml.add_bos_token', { type: 'bool', value: false });
  gguf.set('tokenizer.ggml.add_eos_token', { type: 'bool', value: false });
}
