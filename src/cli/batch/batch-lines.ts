/**
 * One line of an OpenAI Batch file, checked, and its result line: `{custom_id, method, url,
 * body}` in, `{id, custom_id, response: {status_code, request_id, body}, error}` out. A line
 * that cannot run is answered with an error line naming its line number.
 */
import { randomUUID } from 'node:crypto';
import type { OpenAIService, Json } from '../../host/openai-service.js';
import { badRequest } from '../../protocol/errors.js';
import { OpenAIError, toOpenAIError } from '../../protocol/openai-error.js';
import type { NumberedLine } from './input-lines.js';

const ENDPOINTS = ['/v1/completions', '/v1/chat/completions', '/v1/embeddings'] as const;
type Endpoint = (typeof ENDPOINTS)[number];

export interface BatchLine {
  customId: string | null;
  /** What to run, or why the line cannot run. */
  request: { url: Endpoint; body: Json } | { problem: OpenAIError };
}

function resultId(): string {
  return `batch_req_${randomUUID().replace(/-/g, '')}`;
}

function errorResult(customId: string | null, error: OpenAIError): Json {
  return {
    id: resultId(),
    custom_id: customId,
    response: { status_code: error.status, request_id: null, body: error.toBody() },
    error: { code: error.type, message: error.message },
  };
}

export function parseBatchLine({ text, lineNumber }: NumberedLine): BatchLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { customId: null, request: { problem: badRequest(`line ${lineNumber}: not valid JSON (${(error as Error).message})`) } };
  }
  const line = (parsed ?? {}) as Record<string, unknown>;
  const customId = typeof line['custom_id'] === 'string' ? line['custom_id'] : null;
  const fail = (message: string, param: string): BatchLine => ({ customId, request: { problem: badRequest(`line ${lineNumber}: ${message}`, param) } });
  if (customId === null) return fail('custom_id must be a string', 'custom_id');
  if (line['method'] !== 'POST') return fail(`method must be "POST", got ${JSON.stringify(line['method'])}`, 'method');
  const url = line['url'];
  if (!ENDPOINTS.includes(url as Endpoint)) return fail(`url must be one of ${ENDPOINTS.join(', ')}, got ${JSON.stringify(url)}`, 'url');
  const body = line['body'];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail('body must be a JSON object', 'body');
  return { customId, request: { url: url as Endpoint, body: { ...(body as Json), stream: false } } };
}

/** NOTE: custom_ids must be unique (as OpenAI's Batch API requires): `--resume` finds results by them. */
export function refuseRepeatedIds(lines: BatchLine[], numbered: NumberedLine[]): void {
  const firstLine = new Map<string, number>();
  lines.forEach((line, index) => {
    const lineNumber = (numbered[index] as NumberedLine).lineNumber;
    if (line.customId === null) return;
    const first = firstLine.get(line.customId);
    if (first === undefined) firstLine.set(line.customId, lineNumber);
    else line.request = { problem: badRequest(`line ${lineNumber}: custom_id ${JSON.stringify(line.customId)} repeats line ${first}`, 'custom_id') };
  });
}

export function isFailed(result: Json): boolean {
  return result['error'] !== null;
}

/** The response body the server would send for this endpoint (never a stream: stream is forced off). */
async function answerBody(url: Endpoint, body: Json, service: OpenAIService, signal: AbortSignal): Promise<Json> {
  if (url === '/v1/embeddings') return service.embeddings(body, signal);
  const result = url === '/v1/completions' ? await service.completion(body, signal) : await service.chat(body, signal);
  if (result.kind !== 'json') throw new Error('unexpected stream');
  return result.body;
}

export async function answerBatchLine(line: BatchLine, service: OpenAIService, signal: AbortSignal): Promise<Json> {
  if ('problem' in line.request) return errorResult(line.customId, line.request.problem);
  const { url, body } = line.request;
  try {
    const answer = await answerBody(url, body, service, signal);
    return {
      id: resultId(),
      custom_id: line.customId,
      response: { status_code: 200, request_id: answer['id'] ?? null, body: answer },
      error: null,
    };
  } catch (error) {
    return errorResult(line.customId, toOpenAIError(error));
  }
}

/** Generated tokens of a result, for the progress bar. */
export function completionTokensOf(result: Json): number {
  const usage = ((result['response'] as Json | undefined)?.['body'] as Json | undefined)?.['usage'] as Json | undefined;
  return typeof usage?.['completion_tokens'] === 'number' ? usage['completion_tokens'] : 0;
}
