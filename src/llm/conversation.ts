/**
 * Requests to messages, and an answer back into the request's own shape: SWIFT's
 * `[query, response]` history and the OpenAI messages, both updated with the new turn.
 */
import { ConversationError, swiftToMessages, type ChatMessage } from '../chat/conversation.js';
import type { History, InferRequest, MessagesRequest } from './types.js';

function isMessagesRequest(request: InferRequest): request is MessagesRequest {
  return 'messages' in request;
}

/** The conversation a request stands for; a malformed one is a ConversationError. */
export function requestMessages(request: InferRequest): ChatMessage[] {
  if (request === null || typeof request !== 'object') throw new ConversationError('a request must be an object with `query` or `messages`');
  if (isMessagesRequest(request)) {
    const { messages } = request;
    if (!Array.isArray(messages) || messages.length === 0) throw new ConversationError('`messages` must be a non-empty array');
    messages.forEach((message, index) => {
      if (message === null || typeof message !== 'object' || typeof message.role !== 'string') {
        throw new ConversationError(`messages[${index}] must be an object with a string \`role\``);
      }
    });
    return [...messages];
  }
  if (typeof request.query !== 'string') throw new ConversationError('a request needs `query` (a string) or `messages`');
  if (request.history !== undefined && request.history !== null && !Array.isArray(request.history)) {
    throw new ConversationError('`history` must be an array of [query, response] pairs');
  }
  if (request.system !== undefined && request.system !== null && typeof request.system !== 'string') {
    throw new ConversationError('`system` must be a string');
  }
  return swiftToMessages(request);
}

/** A message's content as plain text (text parts joined by newlines). */
export function contentText(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (part.type === 'text' && typeof part['text'] === 'string' ? part['text'] : '')).join('\n');
}

/** The user/assistant turns of a conversation as SWIFT history; other messages are skipped. */
export function historyOf(messages: readonly ChatMessage[]): History {
  const history: History = [];
  let pendingQuery: string | null = null;
  for (const message of messages) {
    if (message.role === 'user') pendingQuery = contentText(message.content);
    else if (message.role === 'assistant' && pendingQuery !== null) {
      history.push([pendingQuery, contentText(message.content)]);
      pendingQuery = null;
    }
  }
  return history;
}

/** The request's conversation with `response` as the assistant's new turn. */
export function withAnswer(request: InferRequest, messages: readonly ChatMessage[], response: string): { history: History; messages: ChatMessage[] } {
  const answered = [...messages, { role: 'assistant', content: response }];
  if (isMessagesRequest(request)) return { history: historyOf(answered), messages: answered };
  const earlier: History = (request.history ?? []).map(([query, answer]) => [query, answer]);
  return { history: [...earlier, [request.query, response]], messages: answered };
}
