/**
 * Downloads a model from the Hugging Face hub (or any server speaking its file API, named by
 * `HF_ENDPOINT`) or from ModelScope (`USE_HF=0`; `MODELSCOPE_ENDPOINT`) into swiftlet's cache,
 * resumably: an interrupted file is continued from where it stopped, by a retry in this run or
 * by the next run, and a file counts as downloaded only once its size and hash are checked.
 * How each hub lists and serves files is in huggingface.ts and modelscope.ts.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ModelLoadError } from '../errors.js';
import { statusOf, type HubAccess, type HubBackend, type HubName, type RepoFile } from './backend.js';
import { cacheRoot, isCompleteDownload, readState, repoCacheDir, writeState, type DownloadState } from './cache.js';
import { metadataFiles, weightFiles, WEIGHTS_INDEX } from './files.js';
import { HUGGING_FACE } from './huggingface.js';
import { MODELSCOPE } from './modelscope.js';
import { DownloadProgress, type ProgressSink } from './progress.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_MODELSCOPE_ENDPOINT = 'https://www.modelscope.cn';

const BACKENDS: Readonly<Record<HubName, HubBackend>> = { huggingface: HUGGING_FACE, modelscope: MODELSCOPE };

export interface HubOptions {
  /** Which hub: Hugging Face unless `USE_HF` is set false (SWIFT's switch; SWIFT's own default is ModelScope). */
  hub: HubName;
  /** The hub's address; default `HF_ENDPOINT` / `MODELSCOPE_ENDPOINT` (or `MODELSCOPE_DOMAIN`), else the public hub. */
  endpoint: string;
  /** Sent as a bearer token; default `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`), or `MODELSCOPE_API_TOKEN`. */
  token: string | undefined;
  /** Use the cache only; default from `HF_HUB_OFFLINE`. */
  offline: boolean;
  /** Default `SWIFTLET_CACHE`, else ~/.cache/swiftlet. */
  cacheDir: string;
  /** Default `main` on Hugging Face, `master` on ModelScope. */
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

function isFalsy(value: string | undefined): boolean {
  return value !== undefined && ['0', 'false', 'no', 'off'].includes(value.trim().toLowerCase());
}

/** SWIFT's `USE_HF`: set false, models come from ModelScope. */
export function hubFromEnv(env: NodeJS.ProcessEnv = process.env): HubName {
  return isFalsy(env['USE_HF']) ? 'modelscope' : 'huggingface';
}

function endpointOf(hub: HubName, env: NodeJS.ProcessEnv): string {
  if (hub === 'huggingface') return env['HF_ENDPOINT'] || DEFAULT_ENDPOINT;
  if (env['MODELSCOPE_ENDPOINT']) return env['MODELSCOPE_ENDPOINT'];
  return env['MODELSCOPE_DOMAIN'] ? `https://${env['MODELSCOPE_DOMAIN']}` : DEFAULT_MODELSCOPE_ENDPOINT;
}

export function hubOptionsFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<HubOptions> = {}): HubOptions {
  const hub = overrides.hub ?? hubFromEnv(env);
  const token = hub === 'huggingface' ? env['HF_TOKEN'] || env['HUGGING_FACE_HUB_TOKEN'] : env['MODELSCOPE_API_TOKEN'];
  return {
    hub,
    endpoint: endpointOf(hub, env).replace(/\/+$/, ''),
    token: token || undefined,
    offline: isTruthy(env['HF_HUB_OFFLINE']),
    cacheDir: cacheRoot(env),
    revision: hub === 'huggingface' ? 'main' : 'master',
    progress: process.stderr,
    maxRetries: 5,
    retryDelayMs: 1000,
    ...overrides,
  };
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
  const status = statusOf(error);
  if (status !== undefined) {
    const tokenVariable = BACKENDS[options.hub].tokenVariable;
    if (status === 401 || status === 403) {
      const how = options.token === undefined ? `set ${tokenVariable} to a token that may read it` : `check that ${tokenVariable} may read it`;
      return new ModelLoadError(`${hubId}: access denied by ${options.endpoint} (a gated model? accept its terms on the hub and ${how})`);
    }
    if (status === 404) return new ModelLoadError(`${hubId}: no such model (or revision '${options.revision}') on ${options.endpoint}`);
    return new ModelLoadError(`${hubId}: ${options.endpoint} answered ${status}: ${(error as Error).message}`);
  }
  const cause = (error as { cause?: { message?: string } }).cause?.message;
  return new ModelLoadError(`${hubId}: cannot reach ${options.endpoint}: ${(error as Error).message ?? String(error)}${cause ? ` (${cause})` : ''}`);
}

function isRetryable(error: unknown): boolean {
  if (error instanceof ModelLoadError) return false;
  const status = statusOf(error);
  return status === undefined || status >= 500 || status === 429;
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
  private readonly access: HubAccess;
  private readonly progress: DownloadProgress;
  private readonly state: DownloadState;

  constructor(
    private readonly hubId: string,
    private readonly dir: string,
    private readonly files: Map<string, RepoFile>,
    private readonly options: HubOptions,
  ) {
    this.access = hubAccess(options, this.seen);
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
    const body = await BACKENDS[this.options.hub].openFile(this.hubId, file, offset, this.access);
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

function hubAccess(options: HubOptions, seen: { rangeIgnored: boolean }): HubAccess {
  return { endpoint: options.endpoint, revision: options.revision, token: options.token, fetch: hubFetch(options.token, seen) };
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
  const dir = repoCacheDir(options.cacheDir, hubId, options.revision, options.hub);
  const isCached = isCompleteDownload(dir);
  if (options.offline) {
    if (isCached) return dir;
    const partly = existsSync(dir) ? ' (only partly downloaded)' : '';
    throw new ModelLoadError(`HF_HUB_OFFLINE is set and ${hubId} is not in the cache${partly} at ${dir}; unset HF_HUB_OFFLINE to download it`);
  }
  let files: Map<string, RepoFile>;
  try {
    files = await BACKENDS[options.hub].listFiles(hubId, hubAccess(options, { rangeIgnored: false }));
  } catch (error) {
    const described = describeHubError(error, hubId, options);
    if (isCached && statusOf(error) === undefined) {
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
