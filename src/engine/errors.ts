/**
 * Errors the engine throws at its callers. The server maps InvalidRequestError (and its
 * subclasses) to 400 and QueueFullError to 503/429; anything else is the engine's fault.
 */

/** The caller sent something the engine cannot run; `param` is the OpenAI field name. */
export class InvalidRequestError extends Error {
  override readonly name: string = 'InvalidRequestError';
  constructor(
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** The request can never fit: prompt + max_tokens over max_model_len, or more KV blocks than exist. */
export class RequestTooLongError extends InvalidRequestError {
  override readonly name: string = 'RequestTooLongError';
  constructor(
    message: string,
    readonly numTokens: number,
    readonly limit: number,
  ) {
    super(message, 'max_tokens');
  }
}

/** Back-pressure: the waiting queue is at `maxWaiting`. Retry later. */
export class QueueFullError extends Error {
  override readonly name: string = 'QueueFullError';
  constructor(
    readonly numWaiting: number,
    readonly maxWaiting: number,
  ) {
    super(`engine queue is full (${numWaiting} waiting, limit ${maxWaiting}); retry later`);
  }
}
