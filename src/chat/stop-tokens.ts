/**
 * Tokens that end a reply in a family's own chat code but that its generation_config.json does
 * not list as eos, by `tokenizer_class`: Qwen v1's `chat()` adds its ChatML stop words
 * (qwen_generation_utils.get_stop_words_ids) to `<|endoftext|>`, ChatGLM3's passes three eos ids.
 */
import type { Tokenizer } from '../model/tokenizer.js';
import { QWEN_ENDOFTEXT, QWEN_IM_END, QWEN_IM_START } from '../model/tokenizers/qwen-tiktoken.js';
import { CHATGLM3_STOP_TOKENS } from './chatglm3-input.js';

const STOP_TOKENS_BY_CLASS: Readonly<Record<string, readonly string[]>> = {
  QWenTokenizer: [QWEN_ENDOFTEXT, QWEN_IM_END, QWEN_IM_START],
  ChatGLMTokenizer: CHATGLM3_STOP_TOKENS,
};

/** The ids of the chat stop tokens of this tokenizer's family; empty for families whose config lists them. */
export function chatStopTokenIds(tokenizer: Pick<Tokenizer, 'config' | 'tokenToId'>): number[] {
  const className = tokenizer.config.tokenizer_class;
  const tokens = typeof className === 'string' ? (STOP_TOKENS_BY_CLASS[className] ?? []) : [];
  return tokens.map((token) => tokenizer.tokenToId(token)).filter((id): id is number => id !== undefined);
}
