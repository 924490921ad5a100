/**
 * Families whose own chat code builds the prompt instead of the chat template: ChatGLM3's
 * build_chat_input (token ids, piece by piece, which no rendered text re-encodes to), and Qwen v1's
 * ReAct prompt when a request has tools (without, its chat template renders plain ChatML).
 * Chosen by the tokenizer.
 */
import { ChatGlmTokenizer } from '../model/tokenizers/chatglm.js';
import { QwenTiktokenTokenizer } from '../model/tokenizers/qwen-tiktoken.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { buildChatGlm3Input } from './chatglm3-input.js';
import { chatGlm3ToolTurns } from './chatglm3-tool-turns.js';
import type { ChatMessage } from './conversation.js';
import { qwenReactPrompt } from './qwen-react-prompt.js';

/** `tools`: the request's OpenAI tool definitions, if any. Undefined: the chat template renders this conversation. */
export type ChatInputBuilder = (messages: readonly ChatMessage[], addGenerationPrompt: boolean, tools?: unknown) => number[] | undefined;

/** The builder of this tokenizer's family; undefined for families a chat template renders. */
export function chatInputBuilder(tokenizer: Tokenizer): ChatInputBuilder | undefined {
  if (tokenizer instanceof ChatGlmTokenizer) {
    return (messages, addGenerationPrompt, tools) => buildChatGlm3Input(tokenizer, chatGlm3ToolTurns(messages, tools), addGenerationPrompt);
  }
  if (tokenizer instanceof QwenTiktokenTokenizer) {
    return (messages, addGenerationPrompt, tools) => {
      const text = qwenReactPrompt(messages, tools, addGenerationPrompt);
      return text === undefined ? undefined : tokenizer.encode(text);
    };
  }
  return undefined;
}
