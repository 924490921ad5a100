/**
 * Families whose own chat code builds the prompt as token ids, piece by piece, which no rendered
 * text re-encodes to (ChatGLM3's build_chat_input): chosen by the tokenizer, used instead of the
 * chat template.
 */
import { ChatGlmTokenizer } from '../model/tokenizers/chatglm.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { buildChatGlm3Input } from './chatglm3-input.js';
import { chatGlm3ToolTurns } from './chatglm3-tool-turns.js';
import type { ChatMessage } from './conversation.js';

/** `tools`: the request's OpenAI tool definitions, if any. */
export type ChatInputBuilder = (messages: readonly ChatMessage[], addGenerationPrompt: boolean, tools?: unknown) => number[];

/** The builder of this tokenizer's family; undefined for families a chat template renders. */
export function chatInputBuilder(tokenizer: Tokenizer): ChatInputBuilder | undefined {
  if (!(tokenizer instanceof ChatGlmTokenizer)) return undefined;
  return (messages, addGenerationPrompt, tools) => buildChatGlm3Input(tokenizer, chatGlm3ToolTurns(messages, tools), addGenerationPrompt);
}
