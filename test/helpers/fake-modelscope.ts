/**
 * A local stand-in for ModelScope's model API (what src/model/hub/modelscope.ts calls), serving
 * folders as model repositories on 127.0.0.1:
 *   GET /api/v1/models/{org}/{name}/repo/files?Revision=master&Recursive=true   the listing
 *   GET /api/v1/models/{org}/{name}/repo?Revision=master&FilePath={path}        the bytes, `Range` honoured
 * A missing model answers 200 with `Success: false`, as ModelScope does. It can require a token,
 * cut a file's transfer after some bytes (once), and it records every request.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { LoopbackServer } from './loopback-server.js';

export interface FakeModelScopeRepo {
  dir: string;
  token?: string;
}

export class FakeModelScope extends LoopbackServer {
  readonly requests: { url: string; range: string | undefined }[] = [];
  /** `{modelId}/{path}` -> bytes after which the next transfer of it is cut off. */
  readonly cuts = new Map<string, number>();

  constructor(readonly repos: Record<string, FakeModelScopeRepo>) {
    super();
  }

  /** Range headers of the requests for one file's bytes. */
  transfers(modelId: string, path: string): (string | undefined)[] {
    return this.requests.filter((r) => r.url.startsWith(`/api/v1/models/${modelId}/repo?`) && r.url.includes(`FilePath=${encodeURIComponent(path)}`)).map((r) => r.range);
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push({ url: req.url ?? '', range: req.headers.range });
    const url = new URL(req.url ?? '/', 'http://x');
    const match = /^\/api\/v1\/models\/([^/]+\/[^/]+)\/(repo\/files|repo)$/.exec(url.pathname);
    const repo = match ? this.repos[match[1]!] : undefined;
    if (!match || !repo || url.searchParams.get('Revision') !== 'master') {
      return this.json(res, 200, { Code: 10010205001, Success: false, Message: 'model not found' });
    }
    if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) {
      return this.json(res, 401, { Code: 401, Success: false, Message: 'Unauthorized' });
    }
    if (match[2] === 'repo/files') return this.json(res, 200, { Code: 200, Success: true, Data: { Files: this.listing(repo.dir) } });
    const path = url.searchParams.get('FilePath') ?? '';
    if (!readdirSync(repo.dir).includes(path)) return this.json(res, 404, { Code: 404, Success: false, Message: 'file not found' });
    this.serveFile(res, `${match[1]}/${path}`, readFileSync(join(repo.dir, path)), req.headers.range);
  }

  private listing(dir: string): unknown[] {
    const files: unknown[] = [{ Name: 'docs', Path: 'docs', Type: 'tree', Size: 0 }];
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (!statSync(path).isFile()) continue;
      const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
      files.push({ Name: name, Path: name, Type: 'blob', Size: statSync(path).size, Sha256: sha256, Revision: 'abc123' });
    }
    return files;
  }

  private serveFile(res: ServerResponse, key: string, bytes: Buffer, range: string | undefined): void {
    const from = /^bytes=(\d+)-$/.exec(range ?? '');
    const start = from ? Number(from[1]) : 0;
    const cut = this.cuts.get(key);
    res.writeHead(from ? 206 : 200, { 'Content-Length': bytes.length - start, ...(from ? { 'Content-Range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}) });
    if (cut !== undefined) {
      this.cuts.delete(key);
      res.write(bytes.subarray(start, cut), () => res.destroy());
      return;
    }
    res.end(bytes.subarray(start));
  }
}
