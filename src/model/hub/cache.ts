/**
 * Where downloaded models live: `$SWIFTLET_CACHE` (default `~/.cache/swiftlet`), one folder
 * per hub repository and revision, `hub/<org>/<name>/<revision>/` (ModelScope's under
 * `modelscope/`), holding the model files
 * under their own names, so the folder is a checkpoint directory like any other.
 *
 * NOTE: a file is only ever given its final name once its size (and, for LFS files, its
 * sha256) is checked; until then it is `<name>.incomplete`, with `<name>.incomplete.json`
 * saying which version of the file it is part of, so a later run continues it or starts over.
 */
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const STATE_FILE = '.swiftlet-download.json';

export interface CachedFile {
  size: number;
  /** What identifies this version of the file on the hub: the LFS sha256, xet hash or git blob id. */
  version: string;
}

/** The download's progress, rewritten after every finished file. */
export interface DownloadState {
  hubId: string;
  revision: string;
  /** True once every file the model needs is in place. */
  complete: boolean;
  files: Record<string, CachedFile>;
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env['SWIFTLET_CACHE'];
  return configured !== undefined && configured !== '' ? configured : join(homedir(), '.cache', 'swiftlet');
}

/** NOTE: ModelScope downloads live under `modelscope/`, apart from Hugging Face's `hub/`: one id may name different repositories on the two. */
export function repoCacheDir(root: string, hubId: string, revision: string, hub: 'huggingface' | 'modelscope' = 'huggingface'): string {
  const [org, name] = hubId.split('/');
  return join(root, hub === 'modelscope' ? 'modelscope' : 'hub', org ?? '', name ?? '', encodeURIComponent(revision));
}

export function readState(dir: string): DownloadState | undefined {
  const path = join(dir, STATE_FILE);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DownloadState;
  } catch {
    return undefined;
  }
}

export function writeState(dir: string, state: DownloadState): void {
  const path = join(dir, STATE_FILE);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

/** Whether `dir` holds a finished download whose files are all there at their recorded sizes. */
export function isCompleteDownload(dir: string): boolean {
  const state = readState(dir);
  if (!state?.complete) return false;
  return Object.entries(state.files).every(([path, file]) => {
    const full = join(dir, path);
    return existsSync(full) && statSync(full).size === file.size;
  });
}

/** The cached folder of `hubId` at `revision` when its download is complete. */
export function cachedModelDir(hubId: string, revision = 'main', root = cacheRoot()): string | undefined {
  const dir = repoCacheDir(root, hubId, revision);
  return isCompleteDownload(dir) ? dir : undefined;
}

/** Every complete download in the cache, as `org/name` (with `@revision` unless main) and its folder. */
export function listCachedModels(root = cacheRoot()): { id: string; dir: string }[] {
  const hub = join(root, 'hub');
  const found: { id: string; dir: string }[] = [];
  const subdirs = (dir: string) => (existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : []);
  for (const org of subdirs(hub)) {
    for (const name of subdirs(join(hub, org))) {
      for (const revision of subdirs(join(hub, org, name))) {
        const dir = join(hub, org, name, revision);
        const rev = decodeURIComponent(revision);
        if (isCompleteDownload(dir)) found.push({ id: `${org}/${name}${rev === 'main' ? '' : `@${rev}`}`, dir });
      }
    }
  }
  return found;
}
