// @ts-check
/**
 * The page's side of the OpenAI API on its own origin: listing models and streaming a chat
 * completion as server-sent events, read with fetch + ReadableStream (EventSource cannot POST).
 * Aborting the signal closes the connection, and the server aborts the request.
 */

export class ApiError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** @param {string} apiKey @returns {Record<string, string>} */
function authHeaders(apiKey) {
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

/** The server's error message (`{"error": {"message"}}`), else the status line. @param {Response} response */
async function errorFrom(response) {
  const text = await response.text().catch(() => '');
  let message = '';
  try {
    const body = JSON.parse(text);
    message = body?.error?.message ?? '';
  } catch {
    message = text.slice(0, 500);
  }
  return new ApiError(message || `${response.status} ${response.statusText}`, response.status);
}

/**
 * @typedef {{ id: string, parent: string | null, max_model_len?: number }} ModelInfo
 * @param {string} apiKey
 * @returns {Promise<ModelInfo[]>}
 */
export async function listModels(apiKey) {
  const response = await fetch('/v1/models', { headers: authHeaders(apiKey) });
  if (!response.ok) throw await errorFrom(response);
  const body = await response.json();
  return Array.isArray(body?.data) ? body.data : [];
}

/**
 * The parsed `data:` payloads of an SSE response, until `[DONE]`. An `{"error"}` event (a failure
 * after the stream began) is thrown.
 * @param {ReadableStream<Uint8Array>} stream
 * @returns {AsyncGenerator<any>}
 */
async function* sseEvents(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const data = event
          .split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (data === '') continue;
        if (data === '[DONE]') return;
        const payload = JSON.parse(data);
        if (payload?.error) throw new ApiError(payload.error.message ?? 'the server reported an error', payload.error.code ?? 500);
        yield payload;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * Streams one chat completion: yields `{ delta }` for text, `{ finishReason }` when the choice
 * ends, `{ usage }` at the end. Throws ApiError for a refused request, AbortError when stopped.
 * @param {Record<string, unknown>} body without `stream`
 * @param {{ apiKey: string, signal: AbortSignal }} options
 * @returns {AsyncGenerator<{ delta?: string, finishReason?: string, usage?: { prompt_tokens: number, completion_tokens: number } }>}
 */
export async function* streamChat(body, { apiKey, signal }) {
  const response = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders(apiKey) },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!response.ok) throw await errorFrom(response);
  if (!response.body) throw new ApiError('the server sent no stream', response.status);
  for await (const chunk of sseEvents(response.body)) {
    const choice = chunk?.choices?.[0];
    const delta = choice?.delta?.content;
    if (typeof delta === 'string' && delta !== '') yield { delta };
    if (choice?.finish_reason) yield { finishReason: choice.finish_reason };
    if (chunk?.usage) yield { usage: chunk.usage };
  }
}
