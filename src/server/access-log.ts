/**
 * One line per HTTP request: method, path, status, tokens, milliseconds. Status 499 is a
 * client that left before its response was complete (logged as such, not as an error).
 */
import type { Json } from '../host/openai-service.js';

export interface AccessRecord {
  method: string;
  path: string;
  status: number;
  /** Total tokens of a completion, chat, responses, embeddings or tokenize response; null for other routes. */
  tokens: number | null;
  ms: number;
}

export function accessLine(record: AccessRecord): string {
  const outcome = record.status === 499 ? '499 (client closed the connection)' : String(record.status);
  const tokens = record.tokens === null ? '-' : String(record.tokens);
  return `${record.method} ${record.path} ${outcome} tokens=${tokens} ${record.ms.toFixed(0)} ms`;
}

/** The total tokens a response body or stream event reports (`usage`, a Responses event's `response.usage`, or /tokenize's `count`). */
export function tokensOf(body: Json): number | null {
  const response = body['response'] as Json | null | undefined;
  const usage = (body['usage'] ?? response?.['usage']) as Json | null | undefined;
  if (typeof usage?.['total_tokens'] === 'number') return usage['total_tokens'];
  return typeof body['count'] === 'number' ? body['count'] : null;
}
