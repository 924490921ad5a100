/**
 * The OpenAI-compatible HTTP server over one ModelHost, on node:http. One function per
 * request: CORS, routing (404/405), the API key, the handler; whatever a handler throws becomes
 * an OpenAI-style error response, so nothing reaches node:http. A client that goes away
 * aborts its engine requests through its AbortSignal. shutdown() stops accepting, waits
 * for in-flight requests up to a grace period, then aborts the rest.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenAIService } from '../host/openai-service.js';
import type { Logger, ModelHost } from '../host/model-host.js';
import type { ChatAgentOptions } from '../protocol/chat-agent-options.js';
import { OpenAIError, toOpenAIError } from '../protocol/openai-error.js';
import { ApiKeyGuard } from './auth.js';
import { accessLine } from './access-log.js';
import { CorsPolicy } from './cors.js';
import { requestIdOf } from './request-id.js';
import { isCrossOrigin } from './same-origin.js';
import { AdapterPathPolicy, maxAdapterWeightBytes } from '../host/adapter-paths.js';
import { isWritable, sendError } from './http-io.js';
import { ServerMetrics } from './metrics.js';
import { buildRoutes, MODEL_PREFIX, type Route, type RouteTable } from './routes.js';
import { withUiRoutes } from './ui-route.js';

export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;
const ABORT_WAIT_MS = 5_000;

export interface ServerOptions {
  /** Address to listen on; default 127.0.0.1. */
  hostname?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** When set, /v1/*, /tokenize and /detokenize need `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /**
   * Serve /v1/load_lora_adapter and /v1/unload_lora_adapter (as vLLM's
   * VLLM_ALLOW_RUNTIME_LORA_UPDATING) they are off unless asked for; the default is on only
   * when an API key guards them. Loading reads only under `loraRoots`.
   */
  allowRuntimeLoraUpdating?: boolean;
  /** Directories adapters may be loaded from at run time (`--lora-root`); none: no run-time loading. */
  loraRoots?: string[];
  /** Origins allowed by CORS; default any (`*`). */
  allowedOrigins?: string[];
  /** Larger request bodies get 413. Default 32 MiB. */
  maxBodyBytes?: number;
  /** Serve the web chat page from this folder at `/` (see ui-route.ts); default: no page. */
  uiDir?: string;
  /** Open connections at most; more are closed at once (default 4096, under a usual fd limit). */
  maxConnections?: number;
  /** A client must send its headers within this, and its whole request within requestTimeoutMs, or get 408. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Tool calling and reasoning (--enable-auto-tool-choice, --tool-call-parser, --reasoning-parser); default off. */
  agent?: ChatAgentOptions;
  log?: Logger;
}

export interface RunningServer {
  readonly url: string;
  readonly hostname: string;
  readonly port: number;
  readonly server: Server;
  readonly service: OpenAIService;
  readonly metrics: ServerMetrics;
  /** HTTP requests being answered now. */
  readonly numActiveRequests: number;
  /**
   * Stops accepting; in-flight requests may finish within `graceMs`, then the rest are
   * aborted (streams end with finish_reason "abort"). Resolves once every connection is closed.
   */
  shutdown(graceMs: number): Promise<void>;
}

interface ActiveRequest {
  controller: AbortController;
  done: Promise<void>;
}

/** Node's parser errors that are the client's slowness or size, answered as such rather than 400. */
const CLIENT_ERROR_STATUS: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
};

export const DEFAULT_MAX_CONNECTIONS = 4096;

/** Metric label for a path: the route's own path, so unknown paths cannot blow up cardinality. */
function endpointLabel(routes: RouteTable, path: string): string {
  if (routes.has(path)) return path;
  if (path.startsWith(MODEL_PREFIX)) return `${MODEL_PREFIX}{id}`;
  return 'unmatched';
}

function findRoutes(routes: RouteTable, path: string): { routes: readonly Route[]; param: string | null } | null {
  const exact = routes.get(path);
  if (exact) return { routes: exact, param: null };
  if (path.startsWith(MODEL_PREFIX) && path.length > MODEL_PREFIX.length) {
    let param = path.slice(MODEL_PREFIX.length);
    try {
      param = decodeURIComponent(param);
    } catch {
      // NOTE: a malformed escape is matched as written (and so is not found).
    }
    return { routes: routes.get(MODEL_PREFIX) ?? [], param };
  }
  return null;
}

export async function startServer(host: ModelHost, options: ServerOptions = {}): Promise<RunningServer> {
  const hostname = options.hostname ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  const metrics = new ServerMetrics(host.servedModelName, host.serving.maxLoras);
  const service = new OpenAIService(host, metrics, options.agent);
  const guard = options.apiKey ? new ApiKeyGuard(options.apiKey) : null;
  const cors = new CorsPolicy(options.allowedOrigins);
  const active = new Set<ActiveRequest>();
  let isShuttingDown = false;
  const routes = withUiRoutes(buildRoutes({
    service,
    metrics,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    isShuttingDown: () => isShuttingDown,
    allowRuntimeLoraUpdating: options.allowRuntimeLoraUpdating ?? Boolean(options.apiKey),
    adapterPaths: new AdapterPathPolicy(options.loraRoots ?? [], maxAdapterWeightBytes(host.spec, host.adapters.maxLoraRank)),
  }), options.uiDir);

  async function dispatch(req: IncomingMessage, res: ServerResponse, signal: AbortSignal, noteTokens: (count: number | null) => void): Promise<void> {
    const requestId = { 'X-Request-Id': requestIdOf(req) };
    const headers = { ...cors.headers(req), ...requestId };
    const path = (req.url ?? '/').split('?')[0] as string;
    if (isShuttingDown) {
      sendError(res, new OpenAIError(503, 'the server is shutting down'), { ...headers, Connection: 'close' });
      return;
    }
    const found = findRoutes(routes, path);
    const isAdmin = found?.routes.some((candidate) => candidate.isAdmin === true) ?? false;
    if (req.method === 'OPTIONS') {
      if (isAdmin) {
        // NOTE: no CORS for routes that change the server: a browser then never sends the request.
        res.writeHead(204);
        res.end();
      } else cors.preflight(req, res);
      return;
    }
    if (!found) {
      sendError(res, new OpenAIError(404, `no route for ${req.method} ${path}`), headers);
      return;
    }
    const route = found.routes.find((candidate) => candidate.method === req.method || (candidate.method === 'GET' && req.method === 'HEAD'));
    if (!route) {
      const allowed = [...new Set(found.routes.map((candidate) => candidate.method)), 'OPTIONS'].join(', ');
      sendError(res, new OpenAIError(405, `method ${req.method} is not allowed for ${path}; use ${allowed}`), { ...headers, Allow: allowed });
      return;
    }
    if (route.isAdmin && isCrossOrigin(req)) {
      sendError(res, new OpenAIError(403, `${path} changes the server and is refused from another origin (${req.headers.origin ?? 'a cross-site page'})`), {});
      return;
    }
    const denied = route.isGuarded && guard ? guard.check(req) : null;
    if (denied) {
      sendError(res, denied, { ...headers, 'WWW-Authenticate': 'Bearer' });
      return;
    }
    try {
      await route.handle({ req, res, signal, headers: route.isAdmin ? requestId : headers, param: found.param, noteTokens });
    } catch (error) {
      const apiError = toOpenAIError(error);
      // NOTE: a client gone mid-upload and a full queue (503) are not the server's faults: the access line says them.
      if (apiError.status === 500 && !signal.aborted) log(`error in ${req.method} ${path}: ${(error as Error)?.stack ?? String(error)}`);
      // NOTE: an unread upload would otherwise keep the connection busy after a 413.
      sendError(res, apiError, apiError.status === 413 ? { ...headers, Connection: 'close' } : headers);
    }
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const controller = new AbortController();
    const started = performance.now();
    let tokens: number | null = null;
    // NOTE: a client that resets the connection makes these emit 'error'; that is handled by the close below.
    req.on('error', () => controller.abort());
    res.on('error', () => controller.abort());
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const done = dispatch(req, res, controller.signal, (count) => (tokens = count))
      .catch((error: unknown) => {
        // NOTE: only a bug gets here (dispatch catches handler errors); answer rather than hang.
        log(`unexpected error: ${(error as Error)?.stack ?? String(error)}`);
        if (isWritable(res)) sendError(res, toOpenAIError(error));
      })
      .finally(() => {
        if (isWritable(res)) res.end();
        active.delete(entry);
        const path = (req.url ?? '/').split('?')[0] as string;
        const status = res.writableFinished ? res.statusCode : 499;
        metrics.countHttp(req.method ?? 'UNKNOWN', endpointLabel(routes, path), status);
        log(accessLine({ method: req.method ?? 'UNKNOWN', path, status, tokens, ms: performance.now() - started }));
      });
    const entry: ActiveRequest = { controller, done };
    active.add(entry);
  }

  const server = createServer({
    keepAliveTimeout: 5_000,
    headersTimeout: options.headersTimeoutMs ?? 10_000,
    requestTimeout: options.requestTimeoutMs ?? 120_000,
    // NOTE: Node checks those timeouts on this period (default 30 s), so it bounds their precision.
    connectionsCheckingInterval: 1_000,
  }, onRequest);
  // NOTE: without a cap, idle connections exhaust the fd limit and every new client is reset.
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    const status = CLIENT_ERROR_STATUS[error.code ?? ''] ?? '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    else socket.destroy(error);
  });
  server.listen(options.port ?? 8000, hostname);
  await once(server, 'listening');
  server.on('error', (error) => log(`server error: ${error.message}`));
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let shutdownPromise: Promise<void> | null = null;
  async function shutdown(graceMs: number): Promise<void> {
    isShuttingDown = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const allDone = () => Promise.all([...active].map((entry) => entry.done)).then(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const isInTime = await Promise.race([
      allDone().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    clearTimeout(timer);
    if (!isInTime) {
      log(`shutdown: aborting ${active.size} request(s) still running after ${graceMs} ms`);
      for (const entry of active) entry.controller.abort();
      service.abortAll();
      // NOTE: aborted requests end after the engine step in flight; bounded all the same.
      await Promise.race([allDone(), new Promise<void>((resolve) => setTimeout(resolve, ABORT_WAIT_MS).unref())]);
    }
    server.closeAllConnections();
    await closed;
  }

  return {
    url: `http://${urlHost}:${address.port}`,
    hostname,
    port: address.port,
    server,
    service,
    metrics,
    get numActiveRequests() {
      return active.size;
    },
    shutdown: (graceMs) => (shutdownPromise ??= shutdown(graceMs)),
  };
}
