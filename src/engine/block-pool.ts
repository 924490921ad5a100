/**
 * The KV block pool: reference-counted blocks of KV_BLOCK_SIZE tokens, a free list in LRU
 * order, and a hash -> block map for full blocks so equal prefixes share blocks.
 *
 * NOTE: a freed block that carries a hash stays findable (and reusable via touch) until it
 * is evicted, i.e. until allocate() takes it from the head of the free list. Hashed blocks
 * are freed to the tail (least recently freed are evicted first); blocks without a hash hold
 * nothing worth keeping and go to the head, so they are reused before any cached block.
 */
import { KV_BLOCK_SIZE } from '../runtime/types.js';

/** Hash of the (empty) chain before a sequence's first block. */
export const ROOT_BLOCK_HASH = 0x2545f491;

const NONE = -1;

/**
 * 53-bit hash of one full block: its KV_BLOCK_SIZE tokens, the previous block's hash and the
 * adapter. Two independent murmur3-style 32-bit lanes; ~50 ns a block. A lookup also compares
 * the block's tokens, so a collision needs two cached chains whose parents collide.
 */
export function hashBlockTokens(
  parentHash: number,
  tokenIds: ArrayLike<number>,
  start: number,
  adapterHash: number,
): number {
  let h1 = 0x9747b28c ^ adapterHash;
  let h2 = 0x1b873593 ^ Math.imul(adapterHash, 0x85ebca6b);
  const parentLo = parentHash >>> 0;
  const parentHi = Math.floor(parentHash / 4294967296) >>> 0;
  h1 = round1(h1, parentLo);
  h2 = round2(h2, parentLo);
  h1 = round1(h1, parentHi);
  h2 = round2(h2, parentHi);
  for (let i = start; i < start + KV_BLOCK_SIZE; i++) {
    const k = tokenIds[i] as number;
    h1 = round1(h1, k);
    h2 = round2(h2, k);
  }
  h1 = fmix32(h1 ^ KV_BLOCK_SIZE);
  h2 = fmix32(h2 ^ (KV_BLOCK_SIZE * 7));
  return (h2 & 0x1fffff) * 4294967296 + (h1 >>> 0);
}

/** A string (adapter name) as a 32-bit value for hashBlockTokens. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

function round1(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function round2(h: number, k: number): number {
  k = Math.imul(k ^ 0x5bd1e995, 0x27d4eb2d);
  k = (k << 17) | (k >>> 15);
  k = Math.imul(k, 0x165667b1);
  h ^= k;
  h = (h << 11) | (h >>> 21);
  return (Math.imul(h, 9) + 0x7feb352d) | 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class BlockPool {
  readonly numBlocks: number;
  /** Prefix-cache lookups, in prompt tokens queried and tokens found. */
  numQueryTokens = 0;
  numHitTokens = 0;

  private readonly refCounts: Int32Array;
  /** NaN where the block is not in the hash map. */
  private readonly hashes: Float64Array;
  /** The tokens a cached block holds, to verify lookups. */
  private readonly blockTokens: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = NONE;
  private tail = NONE;
  private numFree = 0;
  private readonly hashToBlock = new Map<number, number>();

  constructor(numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new Error(`numBlocks must be a positive integer, got ${numBlocks}`);
    this.numBlocks = numBlocks;
    this.refCounts = new Int32Array(numBlocks);
    this.hashes = new Float64Array(numBlocks).fill(Number.NaN);
    this.blockTokens = new Int32Array(numBlocks * KV_BLOCK_SIZE);
    this.prev = new Int32Array(numBlocks);
    this.next = new Int32Array(numBlocks);
    for (let id = 0; id < numBlocks; id++) this.pushTail(id);
  }

  /** Blocks allocate() can hand out: unreferenced ones, cached or not. */
  get numFreeBlocks(): number {
    return this.numFree;
  }

  get numUsedBlocks(): number {
    return this.numBlocks - this.numFree;
  }

  get numCachedBlocks(): number {
    return this.hashToBlock.size;
  }

  refCount(blockId: number): number {
    return this.refCounts[blockId] as number;
  }

  blockHash(blockId: number): number | null {
    const hash = this.hashes[blockId] as number;
    return Number.isNaN(hash) ? null : hash;
  }

  /** The free list, head (next to be evicted) first. */
  freeBlockIds(): number[] {
    const ids: number[] = [];
    for (let id = this.head; id !== NONE; id = this.next[id] as number) ids.push(id);
    return ids;
  }

  /** The cached block holding exactly these tokens under this hash, or -1. Does not touch it. */
  getCachedBlock(hash: number, tokenIds: ArrayLike<number>, start: number): number {
    const blockId = this.hashToBlock.get(hash);
    if (blockId === undefined) return -1;
    const base = blockId * KV_BLOCK_SIZE;
    for (let i = 0; i < KV_BLOCK_SIZE; i++) {
      if (this.blockTokens[base + i] !== tokenIds[start + i]) return -1;
    }
    return blockId;
  }

  /** Takes a reference on each block (cache hits), taking free ones off the free list. */
  touch(blockIds: readonly number[]): void {
    for (const id of blockIds) {
      if (this.refCounts[id] === 0) this.unlink(id);
      this.refCounts[id] = (this.refCounts[id] as number) + 1;
    }
  }

  /** n fresh blocks (refcount 1) from the head of the free list, evicting their cached hashes. */
  allocate(n: number): number[] {
    if (n > this.numFree) throw new Error(`cannot allocate ${n} KV blocks: only ${this.numFree} free`);
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.head;
      this.unlink(id);
      this.evict(id);
      this.refCounts[id] = 1;
      ids.push(id);
    }
    return ids;
  }

  /** Drops one reference from each block, in the order given (callers pass a sequence's blocks tail first). */
  free(blockIds: readonly number[]): void {
    for (const id of blockIds) {
      const count = (this.refCounts[id] as number) - 1;
      if (count < 0) throw new Error(`KV block ${id} freed more often than referenced`);
      this.refCounts[id] = count;
      if (count > 0) continue;
      if (Number.isNaN(this.hashes[id] as number)) this.pushHead(id);
      else this.pushTail(id);
    }
  }

  /** Makes a full, computed block findable by hash; false when another block already holds that hash. */
  cacheBlock(blockId: number, hash: number, tokenIds: ArrayLike<number>, start: number): boolean {
    if (this.hashToBlock.has(hash) || !Number.isNaN(this.hashes[blockId] as number)) return false;
    this.hashToBlock.set(hash, blockId);
    this.hashes[blockId] = hash;
    const base = blockId * KV_BLOCK_SIZE;
    for (let i = 0; i < KV_BLOCK_SIZE; i++) this.blockTokens[base + i] = tokenIds[start + i] as number;
    return true;
  }

  recordPrefixQuery(numQueryTokens: number, numHitTokens: number): void {
    this.numQueryTokens += numQueryTokens;
    this.numHitTokens += numHitTokens;
  }

  /** Forgets every cached hash (e.g. after an adapter slot changes its weights). */
  resetPrefixCache(): void {
    for (const id of this.hashToBlock.values()) this.hashes[id] = Number.NaN;
    this.hashToBlock.clear();
  }

  private evict(id: number): void {
    const hash = this.hashes[id] as number;
    if (Number.isNaN(hash)) return;
    if (this.hashToBlock.get(hash) === id) this.hashToBlock.delete(hash);
    this.hashes[id] = Number.NaN;
  }

  private pushTail(id: number): void {
    this.prev[id] = this.tail;
    this.next[id] = NONE;
    if (this.tail === NONE) this.head = id;
    else this.next[this.tail] = id;
    this.tail = id;
    this.numFree++;
  }

  private pushHead(id: number): void {
    this.next[id] = this.head;
    this.prev[id] = NONE;
    if (this.head === NONE) this.tail = id;
    else this.prev[this.head] = id;
    this.head = id;
    this.numFree++;
  }

  private unlink(id: number): void {
    const p = this.prev[id] as number;
    const n = this.next[id] as number;
    if (p === NONE) this.head = n;
    else this.next[p] = n;
    if (n === NONE) this.tail = p;
    else this.prev[n] = p;
    this.numFree--;
  }
}
