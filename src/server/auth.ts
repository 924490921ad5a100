/** The API key check: `Authorization: Bearer KEY`, compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { OpenAIError } from '../protocol/openai-error.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class ApiKeyGuard {
  private readonly expected: Buffer;

  constructor(apiKey: string) {
    this.expected = digest(apiKey);
  }

  /** null when the request carries the key; else the 401 to send. */
  check(req: IncomingMessage): OpenAIError | null {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
    // NOTE: hashing first makes the comparison constant-time whatever the key's length.
    if (match && timingSafeEqual(digest(match[1] as string), this.expected)) return null;
    return new OpenAIError(
      401,
      match ? 'Incorrect API key provided.' : 'Missing API key: send it as the header "Authorization: Bearer YOUR_KEY".',
      null,
      'invalid_api_key',
    );
  }
}
