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

/** A prompt built by the family's own code, with the stop strings that family's server adds for it. */
export interface ChatInput {
  ids: number[];
  stop: string[];
}

/** `tools`: the request's OpenAI tool definitions, if any. Undefined: the chat template renders this conversation. */
export type ChatInputBuilder = (messages: readonly ChatMessage[], addGenerationPrompt: boolean, tools?: unknown) => ChatInput | undefined;

/** Qwen v1's openai_api.py stops a ReAct turn here: what follows is the tool's result, not the model's. */
const QWEN_REACT_STOP = 'Observation:';

/** The builder of this tokenizer's family; undefined for families a chat template renders. */
export function chatInputBuilder(tokenizer: Tokenizer): ChatInputBuilder | undefined {
  if (tokenizer instanceof ChatGlmTokenizer) {
    return (messages, addGenerationPrompt, tools) => ({
      ids: buildChatGlm3Input(tokenizer, chatGlm3ToolTurns(messages, tools), addGenerationPrompt),
      stop: [],
    });
  }
  if (tokenizer instanceof QwenTiktokenTokenizer) {
    return (messages, addGenerationPrompt, tools) => {
      const text = qwenReactPrompt(messages, tools, addGenerationPrompt);
      return text === undefined ? undefined : { ids: tokenizer.encode(text), stop: [QWEN_REACT_STOP] };
    };
  }
  return undefined;
}
