/**
 * What a model hub must offer swiftlet's resumable download (download.ts): its file listing, with
 * sizes and hashes, and a file's bytes from an offset. Hugging Face (huggingface.ts) and
 * ModelScope (modelscope.ts) are the two; the cache, resume, checks and offline mode are shared.
 */

export type HubName = 'huggingface' | 'modelscope';

export interface RepoFile {
  path: string;
  size: number;
  /** Identifies this version of the file (LFS sha256, xet hash, git blob id or the hub's revision). */
  version: string;
  /** How to check the bytes: sha256 of the content or git's blob sha1. */
  check: { kind: 'sha256' | 'git-sha1'; hex: string } | undefined;
}

/** Where and as whom to ask. */
export interface HubAccess {
  endpoint: string;
  revision: string;
  token: string | undefined;
  /** A fetch that adds the token and refuses a whole-file answer to a request from an offset. */
  fetch: typeof fetch;
}

/** An HTTP error answer from a hub, with its status (as @huggingface/hub's HubApiError has one). */
export class HubHttpError extends Error {
  override name = 'HubHttpError';

  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface HubBackend {
  readonly name: HubName;
  /** The variable that holds the token, for messages. */
  readonly tokenVariable: string;
  listFiles(hubId: string, access: HubAccess): Promise<Map<string, RepoFile>>;
  /** The file's bytes from `offset` to its end. */
  openFile(hubId: string, file: RepoFile, offset: number, access: HubAccess): Promise<ReadableStream<Uint8Array>>;
}

/** The status of a hub's HTTP error answer, whichever backend's error it is. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return error instanceof Error && typeof status === 'number' ? status : undefined;
}
