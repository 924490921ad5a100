/**
 * A tokenizer's vocabulary as a grammar engine needs it: every token's encoded string by id,
 * how the encoding maps to bytes, and which tokens are whitespace only.
 */

/** How a vocabulary entry spells its bytes (xgrammar's names). */
export type VocabType = 'byte_level' | 'byte_fallback' | 'raw';

export interface GrammarVocabulary {
  /** Encoded token strings by id ('' for ids the tokenizer leaves unused). */
  encodedTokens: string[];
  vocabType: VocabType;
  /** Logit rows of the model: may exceed encodedTokens.length (padded embeddings). */
  numLogits: number;
  /** Tokens that end generation (EOS and friends): the grammar allows them only once complete. */
  stopTokenIds: number[];
  /** Tokens whose text is only spaces, tabs and newlines (bounded in a row; see bounds.ts). */
  whitespaceTokenIds: number[];
}

type Json = Record<string, unknown>;

/** Byte-level BPE spells bytes 0x00-0x20, 0x7f-0xa0 and 0xad as shifted code points; these are ' ', '\t', '\n', '\r'. */
const BYTE_LEVEL_WHITESPACE = new Set(['Ġ', 'ĉ', 'Ċ', 'č']);

function isWhitespaceToken(token: string, vocabType: VocabType): boolean {
  if (token.length === 0) return false;
  if (vocabType === 'byte_level') return [...token].every((c) => BYTE_LEVEL_WHITESPACE.has(c));
  const text = vocabType === 'byte_fallback' ? token.replaceAll('▁', ' ').replace(/^<0x0[9AD]>$|^<0x20>$/, ' ') : token;
  return /^[ \t\n\r]+$/.test(text);
}

function vocabTypeOf(tokenizerJson: Json): VocabType {
  const decoder = tokenizerJson.decoder as Json | null | undefined;
  const decoders = decoder?.type === 'Sequence' ? ((decoder.decoders ?? []) as Json[]) : decoder ? [decoder] : [];
  if (decoders.some((d) => d.type === 'ByteLevel')) return 'byte_level';
  if (decoders.some((d) => d.type === 'ByteFallback')) return 'byte_fallback';
  return 'raw';
}

/** From a parsed tokenizer.json (the Hugging Face fast-tokenizer format). */
export function vocabularyFromTokenizerJson(
  tokenizerJson: Json,
  numLogits: number,
  stopTokenIds: readonly number[],
): GrammarVocabulary {
  const model = tokenizerJson.model as Json | undefined;
  const vocab = (model?.vocab ?? {}) as Record<string, number>;
  const encodedTokens: string[] = [];
  for (const [token, id] of Object.entries(vocab)) encodedTokens[id] = token;
  for (const added of (tokenizerJson.added_tokens ?? []) as { id: number; content: string }[]) {
    encodedTokens[added.id] = added.content;
  }
  for (let id = 0; id < encodedTokens.length; id++) encodedTokens[id] ??= '';
  const vocabType = vocabTypeOf(tokenizerJson);
  const whitespaceTokenIds: number[] = [];
  encodedTokens.forEach((token, id) => {
    if (isWhitespaceToken(token, vocabType)) whitespaceTokenIds.push(id);
  });
  return {
    encodedTokens,
    vocabType,
    numLogits: Math.max(numLogits, encodedTokens.length),
    stopTokenIds: [...stopTokenIds],
    whitespaceTokenIds,
  };
}
