/**
 * Server-sent events for streamed completions: `data: {json}\n\n` per chunk, then
 * `data: [DONE]\n\n`. An error after the stream has begun cannot change the status code, so
 * it goes out as a `data: {"error": ...}` event before [DONE], as vLLM does.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { toOpenAIError } from '../protocol/openai-error.js';
import { isWritable } from './http-io.js';

export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache',
  Connection: 'keep-alive',
  // NOTE: tells nginx-style proxies not to buffer the stream.
  'X-Accel-Buffering': 'no',
} as const;

/** Waits until the socket can take more, or the client is gone. */
async function drained(res: ServerResponse): Promise<void> {
  if (!isWritable(res)) return;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
}

/**
 * Writes every chunk as an SSE event. Once the client has gone the remaining chunks are read
 * and dropped (the caller's abort ends them quickly), so the producer always runs to its end.
 * Resolves when done; never rejects.
 */
export async function writeSse(res: ServerResponse, chunks: AsyncIterable<unknown>, headers: Record<string, string> = {}): Promise<void> {
  if (isWritable(res) && !res.headersSent) {
    res.writeHead(200, { ...headers, ...SSE_HEADERS });
    res.flushHeaders();
  }
  try {
    for await (const chunk of chunks) {
      if (!isWritable(res)) continue;
      if (!res.write(`data: ${JSON.stringify(chunk)}\n\n`)) await drained(res);
    }
  } catch (error) {
    if (isWritable(res)) res.write(`data: ${JSON.stringify(toOpenAIError(error).toBody())}\n\n`);
  }
  if (isWritable(res)) res.end('data: [DONE]\n\n');
}
