/**
 * ChatGLM3's chat prompt, built token by token as its tokenizer's `build_chat_input` builds it:
 * `[gMASK]sop`, then for each message its role token, the encoding of `metadata + "\n"` and the
 * encoding of the content, closing with `<|assistant|>`. A Jinja template cannot express it:
 * each piece is encoded on its own, so each starts with SentencePiece's dummy-prefix `▁`, and
 * role-token text inside a message must stay text.
 */
import type { ChatGlmRole, ChatGlmTokenizer } from '../model/tokenizers/chatglm.js';
import { ConversationError, type ChatMessage } from './conversation.js';

const ROLES: ReadonlySet<string> = new Set<ChatGlmRole>(['system', 'user', 'assistant', 'observation']);

/** What ends a ChatGLM3 reply, as its `chat()` passes eos_token_id: `</s>`, `<|user|>`, `<|observation|>`. */
export const CHATGLM3_STOP_TOKENS = ['</s>', '<|user|>', '<|observation|>'] as const;

function contentOf(message: ChatMessage, index: number): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (content === undefined || content === null) return '';
  throw new ConversationError(`messages[${index}].content must be a string for ChatGLM3 (flatten content parts first)`);
}

/**
 * The prompt ids for `messages` (already flattened to string content). A system message's
 * `tools` are appended to its content as JSON indented by 4, as build_chat_input does; a
 * message's `metadata` (a tool name on an assistant turn) goes on its role line.
 */
export function buildChatGlm3Input(tokenizer: ChatGlmTokenizer, messages: readonly ChatMessage[], addGenerationPrompt = true): number[] {
  const ids = [...tokenizer.prefixIds];
  messages.forEach((message, index) => {
    if (!ROLES.has(message.role)) {
      throw new ConversationError(`messages[${index}].role '${message.role}' is not one ChatGLM3 knows (system, user, assistant, observation)`);
    }
    let content = contentOf(message, index);
    if (message.role === 'system' && message.tools !== undefined) content += `\n${JSON.stringify(message.tools, null, 4)}`;
    const metadata = typeof message.metadata === 'string' ? message.metadata : '';
    ids.push(tokenizer.specialId(`<|${message.role}|>`));
    ids.push(...tokenizer.encode(`${metadata}\n`, { addSpecialTokens: false }));
    ids.push(...tokenizer.encode(content, { addSpecialTokens: false }));
  });
  if (addGenerationPrompt) ids.push(tokenizer.specialId('<|assistant|>'));
  return ids;
}
