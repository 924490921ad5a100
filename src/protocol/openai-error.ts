/**
 * OpenAI's error body: `{"error": {"message", "type", "param", "code"}}` where `type` is one of
 * OpenAI's snake_case kinds and `code` is a short string or null (never the HTTP status).
 * Every error the server, run-batch and the client see has this shape.
 */
import { QueueFullError } from '../engine/errors.js';

export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'not_found_error'
  | 'authentication_error'
  | 'permission_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'service_unavailable_error';

export interface OpenAIErrorBody {
  error: { message: string; type: OpenAIErrorType; param: string | null; code: string | null };
}

/** The type OpenAI's clients expect for a status (openai-node maps status, not type, to its error classes). */
export function errorTypeOfStatus(status: number): OpenAIErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'service_unavailable_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export class OpenAIError extends Error {
  override readonly name = 'OpenAIError';
  readonly type: OpenAIErrorType;

  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    type?: OpenAIErrorType,
  ) {
    super(message);
    this.type = type ?? errorTypeOfStatus(status);
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 naming the field; `code` as OpenAI spells it where it has one (e.g. 'invalid_value', 'missing_required_parameter'). */
export function invalidRequest(message: string, param: string | null = null, code: string | null = null): OpenAIError {
  return new OpenAIError(400, message, param, code);
}

/** 404 for a model name that is neither the base model nor a loaded adapter. */
export function modelNotFound(model: string): OpenAIError {
  return new OpenAIError(404, `The model \`${model}\` does not exist.`, 'model', 'model_not_found');
}

/**
 * Any error thrown at the HTTP edge in OpenAI's shape: our own as they are, the engine's full
 * queue as a 503, an error that carries `status` (an adapter's AdapterError, a hub's error) or
 * `param` (the engine's InvalidRequestError) as a client error,
 * anything else as a 500 that does not leak a stack.
 */
export function toOpenAIError(error: unknown): OpenAIError {
  if (error instanceof OpenAIError) return error;
  if (error instanceof QueueFullError) return new OpenAIError(503, error.message);
  if (error instanceof Error) {
    const { status, param } = error as Error & { status?: unknown; param?: unknown };
    const paramName = typeof param === 'string' ? param : null;
    if (typeof status === 'number') return new OpenAIError(status, error.message, paramName);
    if ('param' in error) return invalidRequest(error.message, paramName);
    return new OpenAIError(500, `internal error: ${error.message}`);
  }
  return new OpenAIError(500, `internal error: ${String(error)}`);
}
