/**
 * The endpoints: each route parses what it needs, calls the transport-independent
 * OpenAIService, and writes JSON, text or SSE. Handlers may throw; the server turns what
 * they throw into an error response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdapterPathPolicy } from '../host/adapter-paths.js';
import type { Json, OpenAIService, ServiceResult } from '../host/openai-service.js';
import type { ReplicaState } from '../host/serving.js';
import { createResponse } from '../host/responses-service.js';
import { tokensOf } from './access-log.js';
import { modelNotFound } from '../protocol/openai-error.js';
import { readJsonBody, sendJson, sendText } from './http-io.js';
import type { ServerMetrics } from './metrics.js';
import { writeSse } from './sse.js';
import { SWIFTLET_VERSION } from './version.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Fires when the client goes away before its response is complete, or at a forced shutdown. */
  signal: AbortSignal;
  /** Headers every response carries (CORS). */
  headers: Record<string, string>;
  /** The path's parameter for a pattern route (e.g. the model id of /v1/models/{id}). */
  param: string | null;
  /** Tokens the response carried, for the access log. */
  noteTokens(count: number | null): void;
}

export interface Route {
  method: 'GET' | 'POST';
  /** Needs the API key when one is set. */
  isGuarded: boolean;
  /** Changes the server (loads or unloads adapters): refused cross-origin, and never given CORS headers. */
  isAdmin?: boolean;
  handle(context: RouteContext): Promise<void>;
}

export interface RouteDeps {
  service: OpenAIService;
  metrics: ServerMetrics;
  maxBodyBytes: number;
  isShuttingDown(): boolean;
  /** Whether /v1/load_lora_adapter and /v1/unload_lora_adapter exist. */
  allowRuntimeLoraUpdating: boolean;
  /** Where /v1/load_lora_adapter may read from. */
  adapterPaths: AdapterPathPolicy;
}

/** Path -> its routes (one per method). `/v1/models/` also matches `/v1/models/{id}`. */
export type RouteTable = ReadonlyMap<string, readonly Route[]>;

export const MODEL_PREFIX = '/v1/models/';

/** NOTE: a stream's tokens are known only from a usage chunk (stream_options.include_usage) or Responses' response.completed event. */
async function* noteStreamUsage(chunks: AsyncIterable<Json>, context: RouteContext): AsyncGenerator<Json> {
  for await (const chunk of chunks) {
    const tokens = tokensOf(chunk);
    if (tokens !== null) context.noteTokens(tokens);
    yield chunk;
  }
}

async function sendResult(context: RouteContext, result: ServiceResult): Promise<void> {
  if (result.kind === 'json') {
    context.noteTokens(tokensOf(result.body));
    sendJson(context.res, 200, result.body, context.headers);
  } else await writeSse(context.res, noteStreamUsage(result.chunks, context), context.headers);
}

/**
 * 200 while some engine serves, 503 when none does or the server is shutting down. One engine
 * answers with an empty body (as vLLM); replicas with each one's state, so a degraded pod
 * stays ready (the others serve) while its log and probes say which replica is gone.
 */
function sendHealth(res: ServerResponse, headers: Record<string, string>, isShuttingDown: boolean, states: readonly ReplicaState[]): void {
  if (isShuttingDown) {
    sendJson(res, 503, { status: 'shutting down' }, headers);
    return;
  }
  const numHealthy = states.filter((state) => state.isHealthy).length;
  if (states.length === 1 && states[0]?.replica === null && numHealthy === 1) {
    res.writeHead(200, { ...headers, 'Content-Length': 0 });
    res.end();
    return;
  }
  sendJson(res, numHealthy > 0 ? 200 : 503, {
    status: numHealthy === states.length ? 'ok' : numHealthy > 0 ? 'degraded' : 'unavailable',
    replicas: states.map((state) => ({ replica: state.replica, pid: state.pid, healthy: state.isHealthy, reason: state.reason, requests_in_flight: state.numInFlight })),
  }, headers);
}

export function buildRoutes(deps: RouteDeps): RouteTable {
  const { service, metrics, maxBodyBytes } = deps;
  const body = (context: RouteContext) => readJsonBody(context.req, maxBodyBytes);
  const get = (isGuarded: boolean, handle: (context: RouteContext) => void | Promise<void>): Route => ({
    method: 'GET',
    isGuarded,
    handle: async (context) => handle(context),
  });
  const post = (isGuarded: boolean, handle: (context: RouteContext) => Promise<void>): Route => ({ method: 'POST', isGuarded, handle });
  const admin = (handle: (context: RouteContext) => Promise<void>): Route => ({ method: 'POST', isGuarded: true, isAdmin: true, handle });

  const loraRoutes: [string, Route[]][] = deps.allowRuntimeLoraUpdating
    ? [
        ['/v1/load_lora_adapter', [admin(async (context) => sendText(context.res, 200, await service.loadAdapter(await body(context), deps.adapterPaths), context.headers))]],
        ['/v1/unload_lora_adapter', [admin(async (context) => sendText(context.res, 200, await service.unloadAdapter(await body(context)), context.headers))]],
      ]
    : [];
  return new Map<string, Route[]>([
    ['/health', [get(false, ({ res, headers }) => sendHealth(res, headers, deps.isShuttingDown(), service.host.serving.replicaStates()))]],
    ['/metrics', [get(false, ({ res }) => sendText(res, 200, metrics.render(service.host.serving.replicaStates()), { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }))]],
    ['/version', [get(false, ({ res, headers }) => sendJson(res, 200, { version: SWIFTLET_VERSION }, headers))]],
    ['/v1/models', [get(true, ({ res, headers }) => sendJson(res, 200, service.listModels(), headers))]],
    [MODEL_PREFIX, [get(true, ({ res, headers, param }) => {
      const model = (service.listModels()['data'] as { id: string }[]).find((entry) => entry.id === param);
      if (!model) throw modelNotFound(String(param));
      sendJson(res, 200, model, headers);
    })]],
    ['/v1/chat/completions', [post(true, async (context) => sendResult(context, await service.chat(await body(context), context.signal)))]],
    ['/v1/completions', [post(true, async (context) => sendResult(context, await service.completion(await body(context), context.signal)))]],
    ['/v1/embeddings', [post(true, async (context) => sendResult(context, { kind: 'json', body: await service.embeddings(await body(context), context.signal) }))]],
    ['/v1/responses', [post(true, async (context) => sendResult(context, await createResponse(service, await body(context), context.signal)))]],
    ['/tokenize', [post(true, async (context) => sendResult(context, { kind: 'json', body: await service.tokenize(await body(context)) }))]],
    ['/detokenize', [post(true, async (context) => sendJson(context.res, 200, service.detokenize(await body(context)), context.headers))]],
    ...loraRoutes,
  ]);
}
