/**
 * Downloads a model from the Hugging Face hub (or any server speaking its file API, named by
 * `HF_ENDPOINT`) through @huggingface/hub into swiftlet's cache, resumably: an interrupted
 * file is continued from where it stopped, by a retry in this run or by the next run, and a
 * file counts as downloaded only once its size and hash are checked.
 *
 * Endpoints used (through the library): `GET /api/models/{id}/tree/{rev}` to list the files,
 * `GET /{id}/resolve/{rev}/{path}` with `Range: bytes=0-0` for a file's size and ETag, then
 * the same URL, whole or from an offset (`Range: bytes=N-M`), for its bytes.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { downloadFile, fileDownloadInfo, HubApiError, listFiles } from '@huggingface/hub';
import { ModelLoadError } from '../errors.js';
import { cacheRoot, isCompleteDownload, readState, repoCacheDir, writeState, type DownloadState } from './cache.js';
import { metadataFiles, weightFiles, WEIGHTS_INDEX } from './files.js';
import { DownloadProgress, type ProgressSink } from './progress.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubOptions {
  /** The hub's address; default `HF_ENDPOINT`, else https://huggingface.co. */
  endpoint: string;
  /** Sent as a bearer token; default `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`). */
  token: string | undefined;
  /** Use the cache only; default from `HF_HUB_OFFLINE`. */
  offline: boolean;
  /** Default `SWIFTLET_CACHE`, else ~/.cache/swiftlet. */
  cacheDir: string;
  revision: string;
  /** Where progress goes (default stderr); null for none. */
  progress: ProgressSink | null;
  /** Retries of an interrupted file within one run, each resuming where the last stopped. */
  maxRetries: number;
  retryDelayMs: number;
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

export function hubOptionsFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<HubOptions> = {}): HubOptions {
  const token = env['HF_TOKEN'] || env['HUGGING_FACE_HUB_TOKEN'] || undefined;
  return {
    endpoint: (env['HF_ENDPOINT'] || DEFAULT_ENDPOINT).replace(/\/+$/, ''),
    token,
    offline: isTruthy(env['HF_HUB_OFFLINE']),
    cacheDir: cacheRoot(env),
    revision: 'main',
    progress: process.stderr,
    maxRetries: 5,
    retryDelayMs: 1000,
    ...overrides,
  };
}

interface RepoFile {
  path: string;
  size: number;
  /** Identifies this version of the file (LFS sha256, xet hash or git blob id). */
  version: string;
  /** How to check the bytes: sha256 of the content (LFS) or git's blob sha1. */
  check: { kind: 'sha256' | 'git-sha1'; hex: string } | undefined;
}

/** Set when a server answers a ranged request with the whole file. */
class RangeIgnoredError extends Error {}

/** fetch with the token on every request, refusing a whole-file answer to a request from an offset. */
function hubFetch(token: string | undefined, seen: { rangeIgnored: boolean }): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    if (token !== undefined && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    const response = await fetch(input, { ...init, headers });
    const from = /^bytes=(\d+)-/.exec(headers.get('range') ?? '');
    if (from && Number(from[1]) > 0 && response.status === 200) {
      seen.rangeIgnored = true;
      await response.body?.cancel();
      throw new RangeIgnoredError('the server ignored the Range header');
    }
    return response;
  };
}

function describeHubError(error: unknown, hubId: string, options: HubOptions): Error {
  if (error instanceof ModelLoadError) return error;
  if (error instanceof HubApiError) {
    if (error.statusCode === 401 || error.statusCode === 403) {
      const how = options.token === undefined ? 'set HF_TOKEN to a token that may read it' : 'check that HF_TOKEN may read it';
      return new ModelLoadError(`${hubId}: access denied by ${options.endpoint} (a gated model? accept its terms on the hub and ${how})`);
    }
    if (error.statusCode === 404) return new ModelLoadError(`${hubId}: no such model (or revision '${options.revision}') on ${options.endpoint}`);
    return new ModelLoadError(`${hubId}: ${options.endpoint} answered ${error.statusCode}: ${error.message}`);
  }
  const cause = (error as { cause?: { message?: string } }).cause?.message;
  return new ModelLoadError(`${hubId}: cannot reach ${options.endpoint}: ${(error as Error).message ?? String(error)}${cause ? ` (${cause})` : ''}`);
}

function isRetryable(error: unknown): boolean {
  if (error instanceof ModelLoadError) return false;
  if (error instanceof HubApiError) return error.statusCode >= 500 || error.statusCode === 429;
  return true;
}

function newHash(file: RepoFile): Hash | undefined {
  if (!file.check) return undefined;
  if (file.check.kind === 'sha256') return createHash('sha256');
  return createHash('sha1').update(`blob ${file.size}\0`);
}

async function hashExisting(hash: Hash | undefined, path: string, bytes: number): Promise<void> {
  if (!hash || bytes === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 })) hash.update(chunk as Buffer);
}

/** One model download: its folder, its state file and the files the hub lists. */
class ModelDownload {
  private readonly seen = { rangeIgnored: false };
  private readonly fetch: typeof fetch;
  private readonly progress: DownloadProgress;
  private readonly state: DownloadState;

  constructor(
    private readonly hubId: string,
    private readonly dir: string,
    private readonly files: Map<string, RepoFile>,
    private readonly options: HubOptions,
  ) {
    this.fetch = hubFetch(options.token, this.seen);
    this.progress = new DownloadProgress(options.progress, `downloading ${hubId}`);
    const previous = readState(dir);
    this.state = { hubId, revision: options.revision, complete: false, files: previous?.files ?? {} };
  }

  async run(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const names = [...this.files.keys()];
    const metadata = metadataFiles(this.hubId, names);
    for (const path of metadata) await this.ensure(path);
    const index = metadata.includes(WEIGHTS_INDEX) ? readFileSync(join(this.dir, WEIGHTS_INDEX), 'utf8') : undefined;
    const weights = weightFiles(this.hubId, names, index);
    for (const path of weights) await this.ensure(path);
    this.state.complete = true;
    writeState(this.dir, this.state);
    this.progress.finish();
  }

  /** The file in place at its current version: kept if it already is, else downloaded. */
  private async ensure(path: string): Promise<void> {
    const file = this.files.get(path);
    if (!file) throw new ModelLoadError(`${this.hubId}: the hub lists no file "${path}"`);
    const final = join(this.dir, path);
    const recorded = this.state.files[path];
    if (recorded?.version === file.version && existsSync(final) && statSync(final).size === file.size) return;
    delete this.state.files[path];
    await this.download(file, final);
    this.state.files[path] = { size: file.size, version: file.version };
    writeState(this.dir, this.state);
  }

  private async download(file: RepoFile, final: string): Promise<void> {
    const partial = `${final}.incomplete`;
    const sidecar = `${partial}.json`;
    mkdirSync(dirname(final), { recursive: true });
    for (let attempt = 0; ; attempt++) {
      const offset = this.resumableOffset(file, partial, sidecar);
      writeFileSync(sidecar, JSON.stringify({ version: file.version, size: file.size }));
      const hash = newHash(file);
      try {
        await hashExisting(hash, partial, offset);
        if (offset < file.size || file.size === 0) await this.transfer(file, partial, offset, hash);
        this.verify(file, partial, hash);
        break;
      } catch (error) {
        if (this.seen.rangeIgnored) {
          // NOTE: a server without ranges can still give the whole file: start it over.
          this.seen.rangeIgnored = false;
          rmSync(partial, { force: true });
          if (attempt < this.options.maxRetries) continue;
        }
        const done = existsSync(partial) ? statSync(partial).size : 0;
        if (attempt >= this.options.maxRetries || !isRetryable(error)) {
          const reason = describeHubError(error, this.hubId, this.options).message;
          throw new ModelLoadError(
            `download of ${this.hubId}/${file.path} stopped at ${done} of ${file.size} bytes: ${reason}; run again to resume`,
          );
        }
        this.progress.note(`${file.path}: interrupted at ${done} of ${file.size} bytes (${(error as Error).message ?? error}); resuming`);
        await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs * 2 ** attempt));
      }
    }
    renameSync(partial, final);
    rmSync(sidecar, { force: true });
  }

  /** Bytes of `partial` that belong to this version of the file; anything else is discarded. */
  private resumableOffset(file: RepoFile, partial: string, sidecar: string): number {
    if (!existsSync(partial)) return 0;
    let previous: { version?: string; size?: number } = {};
    try {
      previous = JSON.parse(readFileSync(sidecar, 'utf8')) as typeof previous;
    } catch {
      // no sidecar: the partial's origin is unknown
    }
    const bytes = statSync(partial).size;
    if (previous.version === file.version && previous.size === file.size && bytes <= file.size) return bytes;
    rmSync(partial, { force: true });
    return 0;
  }

  private async transfer(file: RepoFile, partial: string, offset: number, hash: Hash | undefined): Promise<void> {
    const common = { repo: this.hubId, path: file.path, revision: this.options.revision, hubUrl: this.options.endpoint, fetch: this.fetch };
    const info = await fileDownloadInfo(common);
    if (!info) throw new ModelLoadError(`${this.hubId}: ${file.path} is listed but cannot be downloaded`);
    if (info.size !== file.size) {
      throw new ModelLoadError(`${this.hubId}: ${file.path} is ${info.size} bytes, but the listing says ${file.size}; the repository changed, run again`);
    }
    const blob = await downloadFile({ ...common, downloadInfo: info, xet: false });
    if (!blob) throw new ModelLoadError(`${this.hubId}: ${file.path} cannot be downloaded`);
    const body = offset > 0 ? blob.slice(offset).stream() : blob.stream();
    this.progress.startFile(file.path, file.size, offset);
    const progress = this.progress;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash?.update(chunk);
        progress.advance(chunk.length);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), counter, createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w' }));
    } catch (error) {
      // NOTE: the library aborts its stream with a bare message string.
      throw error instanceof Error ? error : new Error(String(error));
    }
    progress.finishFile();
  }

  private verify(file: RepoFile, partial: string, hash: Hash | undefined): void {
    const size = existsSync(partial) ? statSync(partial).size : 0;
    if (size !== file.size) {
      if (size > file.size) rmSync(partial, { force: true });
      throw new Error(`got ${size} of ${file.size} bytes`);
    }
    if (hash && file.check) {
      const hex = hash.digest('hex');
      if (hex !== file.check.hex) {
        rmSync(partial, { force: true });
        throw new Error(`${file.check.kind} ${hex} does not match the hub's ${file.check.hex}`);
      }
    }
  }
}

async function listRepoFiles(hubId: string, options: HubOptions, fetchFn: typeof fetch): Promise<Map<string, RepoFile>> {
  const files = new Map<string, RepoFile>();
  for await (const entry of listFiles({ repo: hubId, revision: options.revision, hubUrl: options.endpoint, fetch: fetchFn })) {
    if (entry.type !== 'file') continue;
    const size = entry.lfs?.size ?? entry.size;
    const check = entry.lfs ? { kind: 'sha256' as const, hex: entry.lfs.oid } : entry.oid ? { kind: 'git-sha1' as const, hex: entry.oid } : undefined;
    files.set(entry.path, { path: entry.path, size, version: entry.lfs?.oid ?? entry.xetHash ?? entry.oid ?? `size:${size}`, check });
  }
  return files;
}

/** Whether a cached download's recorded versions are still the hub's. */
function isUpToDate(dir: string, files: Map<string, RepoFile>): boolean {
  const state = readState(dir);
  if (!state?.complete || !isCompleteDownload(dir)) return false;
  return Object.entries(state.files).every(([path, cached]) => files.get(path)?.version === cached.version);
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export function isHubId(text: string): boolean {
  return HUB_ID.test(text) && !text.includes('..');
}

/**
 * The local folder of hub model `hubId`, downloading what is missing. Offline, or when the hub
 * cannot be reached, a complete cached copy is used as it is.
 */
export async function downloadModel(hubId: string, overrides: Partial<HubOptions> = {}): Promise<string> {
  const options = hubOptionsFromEnv(process.env, overrides);
  if (!isHubId(hubId)) throw new ModelLoadError(`"${hubId}" is not a hub model id (org/name)`);
  const dir = repoCacheDir(options.cacheDir, hubId, options.revision);
  const isCached = isCompleteDownload(dir);
  if (options.offline) {
    if (isCached) return dir;
    const partly = existsSync(dir) ? ' (only partly downloaded)' : '';
    throw new ModelLoadError(`HF_HUB_OFFLINE is set and ${hubId} is not in the cache${partly} at ${dir}; unset HF_HUB_OFFLINE to download it`);
  }
  let files: Map<string, RepoFile>;
  try {
    files = await listRepoFiles(hubId, options, hubFetch(options.token, { rangeIgnored: false }));
  } catch (error) {
    const described = describeHubError(error, hubId, options);
    if (isCached && !(error instanceof HubApiError)) {
      options.progress?.write(`${described.message}; using the cached copy in ${dir}\n`);
      return dir;
    }
    throw described;
  }
  if (isUpToDate(dir, files)) return dir;
  options.progress?.write(`downloading ${hubId} (${options.revision}) from ${options.endpoint} to ${dir}\n`);
  try {
    await new ModelDownload(hubId, dir, files, options).run();
  } catch (error) {
    throw describeHubError(error, hubId, options);
  }
  return dir;
}
