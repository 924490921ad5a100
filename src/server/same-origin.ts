/**
 * Whether a request comes from a web page of another origin. Routes that change the server
 * (loading adapters) refuse such requests: otherwise any page a user of a local server visits
 * could POST to it (a CORS `*` answer is not even needed for a simple POST to take effect).
 */
import type { IncomingMessage } from 'node:http';

export function isCrossOrigin(req: IncomingMessage): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    // NOTE: `Origin: null` (sandboxed frames, file: pages) is no origin this server serves.
    return true;
  }
  return originHost !== req.headers.host;
}
