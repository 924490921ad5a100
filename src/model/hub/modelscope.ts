/**
 * ModelScope's model hub, through its public HTTP API (what the modelscope SDK calls):
 *   GET /api/v1/models/{id}/repo/files?Revision={rev}&Recursive=true
 *       -> {Code, Success, Data: {Files: [{Path, Type: 'blob'|'tree', Size, Sha256, Revision}]}}
 *   GET /api/v1/models/{id}/repo?Revision={rev}&FilePath={path}   the bytes, `Range` honoured
 * Errors come back as a non-2xx status, or as 200 with `Success: false` and a `Code`.
 */
import type { HubAccess, HubBackend, RepoFile } from './backend.js';
import { HubHttpError } from './backend.js';

interface ModelScopeFile {
  Path?: string;
  Name?: string;
  Type?: string;
  Size?: number;
  Sha256?: string;
  Revision?: string;
}

interface ModelScopeAnswer {
  Code?: number | string;
  Success?: boolean;
  Message?: string;
  Data?: { Files?: ModelScopeFile[] };
}

function modelUrl(access: HubAccess, hubId: string, tail: string, query: Record<string, string>): string {
  const search = new URLSearchParams({ Revision: access.revision, ...query });
  return `${access.endpoint}/api/v1/models/${hubId}/${tail}?${search}`;
}

async function failure(response: Response, what: string): Promise<HubHttpError> {
  const text = await response.text().catch(() => '');
  let message = text.slice(0, 200);
  try {
    message = (JSON.parse(text) as ModelScopeAnswer).Message ?? message;
  } catch {
    // not JSON: keep the text
  }
  return new HubHttpError(response.status, `${what}: ${message || response.statusText}`);
}

export const MODELSCOPE: HubBackend = {
  name: 'modelscope',
  tokenVariable: 'MODELSCOPE_API_TOKEN',

  async listFiles(hubId: string, access: HubAccess): Promise<Map<string, RepoFile>> {
    const response = await access.fetch(modelUrl(access, hubId, 'repo/files', { Recursive: 'true' }));
    if (!response.ok) throw await failure(response, 'listing the files');
    const answer = (await response.json()) as ModelScopeAnswer;
    if (answer.Success === false) {
      // NOTE: ModelScope reports a missing model as HTTP 200 with Success false.
      throw new HubHttpError(Number(answer.Code) === 401 || Number(answer.Code) === 403 ? Number(answer.Code) : 404, answer.Message ?? 'no such model');
    }
    const files = new Map<string, RepoFile>();
    for (const entry of answer.Data?.Files ?? []) {
      const path = entry.Path ?? entry.Name;
      if (entry.Type !== 'blob' || path === undefined || typeof entry.Size !== 'number') continue;
      const check = entry.Sha256 ? { kind: 'sha256' as const, hex: entry.Sha256 } : undefined;
      files.set(path, { path, size: entry.Size, version: entry.Sha256 ?? entry.Revision ?? `size:${entry.Size}`, check });
    }
    return files;
  },

  async openFile(hubId: string, file: RepoFile, offset: number, access: HubAccess): Promise<ReadableStream<Uint8Array>> {
    const headers = offset > 0 ? { range: `bytes=${offset}-` } : undefined;
    const response = await access.fetch(modelUrl(access, hubId, 'repo', { FilePath: file.path }), { headers });
    if (!response.ok) throw await failure(response, `downloading ${file.path}`);
    if (!response.body) throw new HubHttpError(response.status, `downloading ${file.path}: empty answer`);
    return response.body as ReadableStream<Uint8Array>;
  },
};
