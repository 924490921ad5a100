/** OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with an HTTP status. */
import type { ZodError } from 'zod';

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: number | string | null };
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly type = status >= 500 ? 'InternalServerError' : 'BadRequestError',
    readonly param: string | null = null,
  ) {
    super(message);
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

export function badRequest(message: string, param: string | null = null): ApiError {
  return new ApiError(400, message, 'BadRequestError', param);
}

export function notFound(message: string, param: string | null = null): ApiError {
  return new ApiError(404, message, 'NotFoundError', param);
}

/** The first zod issue, phrased for a person: which field, what was wrong. */
export function fromZodError(error: ZodError): ApiError {
  const issue = error.issues[0];
  if (!issue) return badRequest('invalid request');
  const path = issue.path.map(String).join('.');
  return badRequest(path ? `${path}: ${issue.message}` : issue.message, path || null);
}
