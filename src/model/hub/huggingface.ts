/**
 * The Hugging Face hub through @huggingface/hub: `GET /api/models/{id}/tree/{rev}` lists the
 * files, `GET /{id}/resolve/{rev}/{path}` (with `Range: bytes=0-0` for the size and ETag, then
 * whole or from an offset) gives their bytes.
 */
import { downloadFile, fileDownloadInfo, listFiles } from '@huggingface/hub';
import { ModelLoadError } from '../errors.js';
import type { HubAccess, HubBackend, RepoFile } from './backend.js';

export const HUGGING_FACE: HubBackend = {
  name: 'huggingface',
  tokenVariable: 'HF_TOKEN',

  async listFiles(hubId: string, access: HubAccess): Promise<Map<string, RepoFile>> {
    const files = new Map<string, RepoFile>();
    for await (const entry of listFiles({ repo: hubId, revision: access.revision, hubUrl: access.endpoint, fetch: access.fetch })) {
      if (entry.type !== 'file') continue;
      const size = entry.lfs?.size ?? entry.size;
      const check = entry.lfs ? { kind: 'sha256' as const, hex: entry.lfs.oid } : entry.oid ? { kind: 'git-sha1' as const, hex: entry.oid } : undefined;
      files.set(entry.path, { path: entry.path, size, version: entry.lfs?.oid ?? entry.xetHash ?? entry.oid ?? `size:${size}`, check });
    }
    return files;
  },

  async openFile(hubId: string, file: RepoFile, offset: number, access: HubAccess): Promise<ReadableStream<Uint8Array>> {
    const common = { repo: hubId, path: file.path, revision: access.revision, hubUrl: access.endpoint, fetch: access.fetch };
    const info = await fileDownloadInfo(common);
    if (!info) throw new ModelLoadError(`${hubId}: ${file.path} is listed but cannot be downloaded`);
    if (info.size !== file.size) {
      throw new ModelLoadError(`${hubId}: ${file.path} is ${info.size} bytes, but the listing says ${file.size}; the repository changed, run again`);
    }
    const blob = await downloadFile({ ...common, downloadInfo: info, xet: false });
    if (!blob) throw new ModelLoadError(`${hubId}: ${file.path} cannot be downloaded`);
    return (offset > 0 ? blob.slice(offset).stream() : blob.stream()) as ReadableStream<Uint8Array>;
  },
};
