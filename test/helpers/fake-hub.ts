/**
 * A local stand-in for the Hugging Face hub's file API (what @huggingface/hub calls), serving
 * folders as model repositories on 127.0.0.1:
 *   GET /api/models/{org}/{name}/tree/{rev}   the top-level files (size, oid, lfs {oid, size})
 *   GET /{org}/{name}/resolve/{rev}/{path}    the bytes, whole or a `Range: bytes=a-b` of them
 * It can require a token for a repository, cut a file's transfer after some bytes (once), and
 * it records every request.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { LoopbackServer } from './loopback-server.js';

export interface FakeRepo {
  dir: string;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Extra names listed (never served), e.g. `pytorch_model.bin`, to check they are skipped. */
  extraListed?: string[];
}

export interface LoggedRequest {
  method: string;
  url: string;
  range: string | undefined;
  authorization: string | undefined;
}

const LFS = /\.(safetensors|bin)$|^tokenizer\.json$/;

function gitBlobSha1(bytes: Buffer): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export class FakeHub extends LoopbackServer {
  readonly requests: LoggedRequest[] = [];
  /** `{hubId}/{path}` -> bytes after which the next whole transfer of it is cut off. */
  readonly cuts = new Map<string, number>();
  /** When true, ranges from an offset get the whole file (a server that cannot resume). */
  ignoreRanges = false;
  private readonly hashes = new Map<string, { sha256: string; sha1: string }>();

  constructor(readonly repos: Record<string, FakeRepo>) {
    super();
  }

  /** Requests for a file's bytes (not the size probes), as their Range headers. */
  transfers(hubId: string, path: string): (string | undefined)[] {
    const suffix = `/${hubId}/resolve/main/${path}`;
    return this.requests.filter((r) => r.url.endsWith(suffix) && r.range !== 'bytes=0-0').map((r) => r.range);
  }

  private hashesOf(path: string): { sha256: string; sha1: string } {
    let hashes = this.hashes.get(path);
    if (!hashes) {
      const bytes = readFileSync(path);
      hashes = { sha256: createHash('sha256').update(bytes).digest('hex'), sha1: gitBlobSha1(bytes) };
      this.hashes.set(path, hashes);
    }
    return hashes;
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const range = req.headers.range;
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', range, authorization: req.headers.authorization });
    const url = new URL(req.url ?? '/', 'http://x');
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const hubId = tree?.[1] ?? resolve?.[1];
    const repo = hubId ? this.repos[hubId] : undefined;
    if (!hubId || !repo) return this.json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
    if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) {
      return this.json(res, 401, { error: 'Invalid credentials in Authorization header' });
    }
    if (tree) return this.json(res, 200, this.listing(repo));
    const path = decodeURIComponent(resolve?.[3] ?? '');
    const names = readdirSync(repo.dir);
    if (!names.includes(path)) return this.json(res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
    this.serveFile(req, res, `${hubId}/${path}`, join(repo.dir, path), range);
  }

  private listing(repo: FakeRepo): unknown[] {
    const entries: unknown[] = [{ type: 'directory', path: 'original', size: 0, oid: '0'.repeat(40) }];
    for (const name of readdirSync(repo.dir).sort()) {
      const path = join(repo.dir, name);
      if (!statSync(path).isFile()) continue;
      const size = statSync(path).size;
      const { sha256, sha1 } = this.hashesOf(path);
      entries.push(LFS.test(name) ? { type: 'file', path: name, size, oid: sha1, lfs: { oid: sha256, size, pointerSize: 134 } } : { type: 'file', path: name, size, oid: sha1 });
    }
    for (const name of repo.extraListed ?? []) entries.push({ type: 'file', path: name, size: 10, oid: '1'.repeat(40) });
    return entries;
  }

  private serveFile(req: IncomingMessage, res: ServerResponse, key: string, path: string, range: string | undefined): void {
    const bytes = readFileSync(path);
    const etag = `"${this.hashesOf(path).sha256}"`;
    const match = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
    if (match && !(this.ignoreRanges && Number(match[1]) > 0)) {
      const start = Number(match[1]);
      const end = match[2] ? Math.min(Number(match[2]), bytes.length - 1) : bytes.length - 1;
      if (start >= bytes.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` });
        return void res.end();
      }
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': end - start + 1, ETag: etag, 'Accept-Ranges': 'bytes' });
      return void res.end(req.method === 'HEAD' ? undefined : bytes.subarray(start, end + 1));
    }
    const cut = this.cuts.get(key);
    res.writeHead(200, { 'Content-Length': bytes.length, ETag: etag, 'Accept-Ranges': 'bytes' });
    if (cut !== undefined && range !== 'bytes=0-0') {
      this.cuts.delete(key);
      res.write(bytes.subarray(0, cut), () => res.destroy());
      return;
    }
    res.end(bytes);
  }
}
