/** `x-request-id`: a client's own id is echoed (bounded, printable), else one is made, as OpenAI's API answers. */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const CLIENT_ID = /^[\x21-\x7e]{1,128}$/;

export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && CLIENT_ID.test(given) ? given : `req_${randomUUID().replace(/-/g, '')}`;
}
