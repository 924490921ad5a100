/** CORS for browser clients (the chat page): any origin by default, preflight answered with 204. */
import type { IncomingMessage, ServerResponse } from 'node:http';

const ALLOWED_METHODS = 'GET, POST, OPTIONS';
const DEFAULT_ALLOWED_HEADERS = 'Authorization, Content-Type';

export class CorsPolicy {
  private readonly allowsAny: boolean;
  private readonly origins: ReadonlySet<string>;

  /** `origins` as vLLM's --allowed-origins: exact origins, or `*` for any. */
  constructor(origins: readonly string[] = ['*']) {
    this.allowsAny = origins.includes('*');
    this.origins = new Set(origins);
  }

  /** The CORS headers for a response to `req` (none when its origin is not allowed). */
  headers(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (origin === undefined) return this.allowsAny ? { 'Access-Control-Allow-Origin': '*' } : {};
    if (this.allowsAny) return { 'Access-Control-Allow-Origin': '*' };
    if (this.origins.has(origin)) return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
    return {};
  }

  /** Answers an OPTIONS preflight. */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    const headers = this.headers(req);
    if (headers['Access-Control-Allow-Origin'] !== undefined) {
      const requested = req.headers['access-control-request-headers'];
      headers['Access-Control-Allow-Methods'] = ALLOWED_METHODS;
      headers['Access-Control-Allow-Headers'] = typeof requested === 'string' && requested !== '' ? requested : DEFAULT_ALLOWED_HEADERS;
      headers['Access-Control-Max-Age'] = '86400';
    }
    res.writeHead(204, headers);
    res.end();
  }
}
