/** Reading request bodies (bounded) and writing JSON, text and OpenAI-style error responses. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OpenAIError } from '../protocol/openai-error.js';

export function payloadTooLarge(limit: number): OpenAIError {
  return new OpenAIError(413, `the request body is larger than the limit of ${limit} bytes`);
}

/**
 * The whole body as parsed JSON. Over `limit` bytes: 413 at once (by Content-Length when
 * given, else while reading); not JSON: 400 saying where the parser stopped.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw payloadTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw payloadTooLarge(limit);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new OpenAIError(400, 'the request body is empty; expected a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new OpenAIError(400, `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** False when the client has gone (nothing more can be written). */
export function isWritable(res: ServerResponse): boolean {
  return !res.destroyed && !res.writableEnded;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (!isWritable(res)) return;
  const payload = JSON.stringify(body);
  if (!res.headersSent) {
    res.writeHead(status, {
      ...headers,
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(payload),
    });
  }
  res.end(payload);
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (!isWritable(res)) return;
  if (!res.headersSent) {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers, 'Content-Length': Buffer.byteLength(text) });
  }
  res.end(text);
}

export function sendError(res: ServerResponse, error: OpenAIError, headers: Record<string, string> = {}): void {
  sendJson(res, error.status, error.toBody(), headers);
}
