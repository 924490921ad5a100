import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockPool, ROOT_BLOCK_HASH, hashBlockTokens } from '../src/engine/block-pool.js';

const tokens = (start: number) => Array.from({ length: 16 }, (_, i) => start + i);

test('allocates from the head in id order; refcounts', () => {
  const pool = new BlockPool(4);
  assert.deepEqual(pool.allocate(2), [0, 1]);
  assert.equal(pool.numFreeBlocks, 2);
  assert.equal(pool.refCount(0), 1);
  pool.touch([0]);
  assert.equal(pool.refCount(0), 2);
  pool.free([0]);
  assert.equal(pool.refCount(0), 1);
  assert.equal(pool.numUsedBlocks, 2);
  pool.free([1, 0]);
  assert.equal(pool.numUsedBlocks, 0);
  assert.throws(() => pool.free([0]), /freed more often/);
  assert.throws(() => pool.allocate(5), /only 4 free/);
});

test('uncached freed blocks are reused first; cached ones stay findable until evicted (LRU)', () => {
  const pool = new BlockPool(4);
  const [a, b, c, d] = pool.allocate(4) as [number, number, number, number];
  const ha = hashBlockTokens(ROOT_BLOCK_HASH, tokens(0), 0, 0);
  const hb = hashBlockTokens(ha, tokens(16), 0, 0);
  assert.ok(pool.cacheBlock(a, ha, tokens(0), 0));
  assert.ok(pool.cacheBlock(b, hb, tokens(16), 0));
  assert.equal(pool.cacheBlock(c, ha, tokens(0), 0), false, 'a hash maps to one block');
  // Freed tail first, as the KV cache manager does: b then a (cached) go to the tail; c, d (uncached) to the head.
  pool.free([d, c, b, a]);
  assert.deepEqual(pool.freeBlockIds(), [c, d, b, a]);
  assert.equal(pool.getCachedBlock(ha, tokens(0), 0), a);
  assert.equal(pool.getCachedBlock(hb, tokens(16), 0), b);
  assert.equal(pool.getCachedBlock(ha, tokens(1), 0), -1, 'tokens are verified');

  // A hit revives a free cached block without evicting it.
  pool.touch([a]);
  assert.equal(pool.refCount(a), 1);
  assert.deepEqual(pool.freeBlockIds(), [c, d, b]);
  // New blocks: c, d first, then b is evicted (least recently freed cached block).
  assert.deepEqual(pool.allocate(3), [c, d, b]);
  assert.equal(pool.getCachedBlock(hb, tokens(16), 0), -1);
  assert.equal(pool.blockHash(b), null);
  assert.equal(pool.getCachedBlock(ha, tokens(0), 0), a);
  assert.equal(pool.numCachedBlocks, 1);
  pool.free([a]);
  pool.resetPrefixCache();
  assert.equal(pool.getCachedBlock(ha, tokens(0), 0), -1);
});

test('eviction order follows freeing order', () => {
  const pool = new BlockPool(3);
  const ids = pool.allocate(3);
  ids.forEach((id, i) => pool.cacheBlock(id, 1000 + i, tokens(i), 0));
  pool.free([2]);
  pool.free([0]);
  pool.free([1]);
  assert.deepEqual(pool.freeBlockIds(), [2, 0, 1]);
  assert.deepEqual(pool.allocate(1), [2]);
  assert.equal(pool.getCachedBlock(1002, tokens(2), 0), -1);
  assert.equal(pool.getCachedBlock(1000, tokens(0), 0), 0);
});

test('block hash depends on tokens, parent and adapter; fast enough', () => {
  const t = tokens(5);
  const h = hashBlockTokens(ROOT_BLOCK_HASH, t, 0, 0);
  assert.equal(h, hashBlockTokens(ROOT_BLOCK_HASH, t, 0, 0));
  assert.ok(Number.isSafeInteger(h) && h >= 0);
  assert.notEqual(h, hashBlockTokens(ROOT_BLOCK_HASH + 1, t, 0, 0));
  assert.notEqual(h, hashBlockTokens(ROOT_BLOCK_HASH, t, 0, 1));
  const t2 = [...t];
  t2[15] = 999;
  assert.notEqual(h, hashBlockTokens(ROOT_BLOCK_HASH, t2, 0, 0));
  const seen = new Set<number>();
  const data = Array.from({ length: 16 * 20000 }, (_, i) => (i * 2654435761) % 151936);
  const start = performance.now();
  let parent = ROOT_BLOCK_HASH;
  for (let b = 0; b < 20000; b++) {
    parent = hashBlockTokens(parent, data, b * 16, 0);
    seen.add(parent);
  }
  const ms = performance.now() - start;
  assert.equal(seen.size, 20000);
  assert.ok(ms < 500, `hashing 20k blocks took ${ms} ms`);
});
