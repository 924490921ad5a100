/**
 * Conversations into the OpenAI `messages` a chat template renders: SWIFT's
 * `{query, history, system}` records, and content given as an array of parts.
 */

export interface TextContentPart {
  type: 'text';
  text: string;
}

/** Parts other than text (images, audio) are typed loosely so they can be named in an error. */
export type ContentPart = TextContentPart | { type: string; [field: string]: unknown };

/** An OpenAI chat message; templates may read any further field (`tool_calls`, `name`, ...). */
export interface ChatMessage {
  role: string;
  content?: string | ContentPart[] | null;
  [field: string]: unknown;
}

/** SWIFT's inference record: `history` holds earlier `[query, response]` turns, oldest first. */
export interface SwiftConversation {
  query: string;
  history?: ReadonlyArray<readonly [string, string]> | null;
  system?: string | null;
}

/** A conversation that cannot become a prompt: the caller's mistake, worth a 400. */
export class ConversationError extends Error {
  override name = 'ConversationError';
}

/**
 * NOTE: a `system` of '' still becomes a system message (so the template's default system
 * prompt is not inserted); leave it out to get the default.
 */
export function swiftToMessages(conversation: SwiftConversation): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (typeof conversation.system === 'string') messages.push({ role: 'system', content: conversation.system });
  for (const [index, turn] of (conversation.history ?? []).entries()) {
    if (!Array.isArray(turn) || turn.length !== 2 || typeof turn[0] !== 'string' || typeof turn[1] !== 'string') {
      throw new ConversationError(`history[${index}] must be a [query, response] pair of strings`);
    }
    messages.push({ role: 'user', content: turn[0] }, { role: 'assistant', content: turn[1] });
  }
  messages.push({ role: 'user', content: conversation.query });
  return messages;
}

/**
 * Content arrays become one string, text parts joined by newlines as vLLM does, because most
 * templates concatenate `message['content']` as a string. The models served are text-only,
 * so any other part is refused rather than silently dropped.
 */
export function flattenContent(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((message, index) => {
    if (!Array.isArray(message.content)) return message;
    const texts = message.content.map((part, partIndex) => {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw new ConversationError(
          `messages[${index}].content[${partIndex}]: part type '${part.type}' is not supported (text only)`,
        );
      }
      return part.text;
    });
    return { ...message, content: texts.join('\n') };
  });
}
