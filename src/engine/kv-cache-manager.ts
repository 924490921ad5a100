/**
 * Per-request view of the block pool: longest cached prefix, blocks for new tokens, caching
 * blocks once full of computed tokens, and freeing.
 */
import { KV_BLOCK_SIZE } from '../runtime/types.js';
import { BlockPool, ROOT_BLOCK_HASH, hashBlockTokens } from './block-pool.js';
import type { Request } from './request.js';

/** Blocks found in the prefix cache for a request about to be scheduled (not yet referenced). */
export interface ComputedBlocks {
  blockIds: number[];
  numTokens: number;
}

export const NO_COMPUTED_BLOCKS: ComputedBlocks = Object.freeze({ blockIds: [], numTokens: 0 }) as ComputedBlocks;

interface SequenceBlocks {
  blockIds: number[];
  /** Leading blocks already offered to the hash map. */
  numCachedBlocks: number;
}

export class KvCacheManager {
  private readonly sequences = new Map<Request, SequenceBlocks>();

  constructor(
    readonly pool: BlockPool,
    readonly enablePrefixCaching: boolean,
  ) {}

  blockIds(request: Request): readonly number[] {
    return this.sequences.get(request)?.blockIds ?? [];
  }

  /**
   * The longest run of the request's full blocks already in the cache. NOTE: never the whole
   * sequence: at least one token is left to compute, so there are logits to sample from.
   * Requests that want prompt logprobs or mean-pooled embeddings compute every position and
   * so skip the cache.
   */
  getComputedBlocks(request: Request): ComputedBlocks {
    const needsEveryPosition = request.params.promptLogprobs !== null || request.pooled?.mode === 'mean';
    if (!this.enablePrefixCaching || needsEveryPosition) return NO_COMPUTED_BLOCKS;
    const maxBlocks = Math.floor((request.numTokens - 1) / KV_BLOCK_SIZE);
    const hashes = this.hashesFor(request, maxBlocks);
    const blockIds: number[] = [];
    for (let i = 0; i < maxBlocks; i++) {
      const id = this.pool.getCachedBlock(hashes[i] as number, request.allTokenIds, i * KV_BLOCK_SIZE);
      if (id < 0) break;
      blockIds.push(id);
    }
    return { blockIds, numTokens: blockIds.length * KV_BLOCK_SIZE };
  }

  /** Whether `numNewTokens` beyond what is computed (plus `computed`, for a new request) fit in free blocks. */
  canAllocate(request: Request, numNewTokens: number, computed: ComputedBlocks = NO_COMPUTED_BLOCKS): boolean {
    const numOwned = this.sequences.get(request)?.blockIds.length ?? 0;
    const numTokens = Math.max(request.numComputedTokens, computed.numTokens) + numNewTokens;
    const numNeeded = Math.ceil(numTokens / KV_BLOCK_SIZE) - numOwned - computed.blockIds.length;
    // NOTE: cache hits that nobody references sit in the free list; taking them shrinks it.
    let numEvictableHits = 0;
    for (const id of computed.blockIds) if (this.pool.refCount(id) === 0) numEvictableHits++;
    return Math.max(0, numNeeded) + numEvictableHits <= this.pool.numFreeBlocks;
  }

  /** Takes `computed` (cache hits) and fresh blocks so the request has room for `numNewTokens` more. Check canAllocate first. */
  allocate(request: Request, numNewTokens: number, computed: ComputedBlocks = NO_COMPUTED_BLOCKS): void {
    if (!this.canAllocate(request, numNewTokens, computed)) {
      throw new Error(`request ${request.requestId}: no room for ${numNewTokens} tokens`);
    }
    let seq = this.sequences.get(request);
    if (seq === undefined) {
      seq = { blockIds: [], numCachedBlocks: 0 };
      this.sequences.set(request, seq);
    }
    if (computed.blockIds.length > 0) {
      if (seq.blockIds.length > 0) throw new Error(`request ${request.requestId}: cache hits for a request that holds blocks`);
      this.pool.touch(computed.blockIds);
      seq.blockIds.push(...computed.blockIds);
      seq.numCachedBlocks = computed.blockIds.length;
    }
    const numTokens = Math.max(request.numComputedTokens, computed.numTokens) + numNewTokens;
    const numNeeded = Math.ceil(numTokens / KV_BLOCK_SIZE) - seq.blockIds.length;
    if (numNeeded > 0) seq.blockIds.push(...this.pool.allocate(numNeeded));
  }

  /** After a step: makes blocks that are now full of computed tokens findable by others. */
  cacheComputedBlocks(request: Request): void {
    if (!this.enablePrefixCaching) return;
    const seq = this.sequences.get(request);
    if (seq === undefined) return;
    const numFull = Math.min(Math.floor(request.numComputedTokens / KV_BLOCK_SIZE), seq.blockIds.length);
    if (numFull <= seq.numCachedBlocks) return;
    const hashes = this.hashesFor(request, numFull);
    for (let i = seq.numCachedBlocks; i < numFull; i++) {
      this.pool.cacheBlock(seq.blockIds[i] as number, hashes[i] as number, request.allTokenIds, i * KV_BLOCK_SIZE);
    }
    seq.numCachedBlocks = numFull;
  }

  /** Gives back the request's blocks past the one holding token `numTokens - 1` (rolled-back drafts), tail first. */
  freeBlocksAfter(request: Request, numTokens: number): void {
    const seq = this.sequences.get(request);
    if (seq === undefined) return;
    const numKept = Math.max(Math.ceil(numTokens / KV_BLOCK_SIZE), seq.numCachedBlocks);
    if (seq.blockIds.length <= numKept) return;
    const freed = seq.blockIds.slice(numKept);
    // NOTE: a new array, not a splice: the step builder trusts a list it has seen to only grow.
    seq.blockIds = seq.blockIds.slice(0, numKept);
    this.pool.free(freed.reverse());
  }

  /** Drops the request's references, tail first, so its last blocks are evicted first. */
  free(request: Request): void {
    const seq = this.sequences.get(request);
    if (seq === undefined) return;
    this.sequences.delete(request);
    this.pool.free(seq.blockIds.slice().reverse());
  }

  get numSequences(): number {
    return this.sequences.size;
  }

  private hashesFor(request: Request, numBlocks: number): readonly number[] {
    const hashes = request.blockHashes;
    for (let i = hashes.length; i < numBlocks; i++) {
      const parent = i === 0 ? ROOT_BLOCK_HASH : (hashes[i - 1] as number);
      hashes.push(hashBlockTokens(parent, request.allTokenIds, i * KV_BLOCK_SIZE, request.blockHashSalt));
    }
    return hashes;
  }
}
