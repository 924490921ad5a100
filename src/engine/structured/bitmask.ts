/**
 * Token bitmasks: bit (id % 32) of word (id >> 5) is 1 where token `id` is allowed, as
 * xgrammar and vLLM lay them out. A step's masks are [numSeqs * numWords] u32, row per sequence.
 */

export function bitmaskWords(numLogits: number): number {
  return (numLogits + 31) >>> 5;
}

export function bitmaskOf(tokenIds: Iterable<number>, numWords: number): Uint32Array {
  const mask = new Uint32Array(numWords);
  for (const id of tokenIds) setBit(mask, id);
  return mask;
}

export function setBit(mask: Uint32Array, id: number): void {
  const word = id >>> 5;
  mask[word] = ((mask[word] ?? 0) | (1 << (id & 31))) >>> 0;
}

export function isAllowed(mask: Uint32Array, id: number): boolean {
  return (((mask[id >>> 5] ?? 0) >>> (id & 31)) & 1) === 1;
}

export function allowedTokenIds(mask: Uint32Array): number[] {
  const ids: number[] = [];
  for (let word = 0; word < mask.length; word++) {
    let bits = mask[word] as number;
    while (bits !== 0) {
      const low = bits & -bits;
      ids.push(word * 32 + 31 - Math.clz32(low));
      bits = (bits ^ low) >>> 0;
    }
  }
  return ids;
}

/** The sampler's step: -Infinity for every disallowed token (the reference the native samplers must match). */
export function applyTokenBitmask(logits: Float32Array, mask: Uint32Array): void {
  for (let id = 0; id < logits.length; id++) if (!isAllowed(mask, id)) logits[id] = Number.NEGATIVE_INFINITY;
}

/** `mask &= keep` unless that leaves nothing allowed; returns whether it narrowed. */
export function intersectUnlessEmpty(mask: Uint32Array, keep: Uint32Array): boolean {
  let isAnyLeft = false;
  for (let w = 0; w < mask.length && !isAnyLeft; w++) isAnyLeft = ((mask[w] as number) & (keep[w] ?? 0)) !== 0;
  if (!isAnyLeft) return false;
  for (let w = 0; w < mask.length; w++) mask[w] = ((mask[w] as number) & (keep[w] ?? 0)) >>> 0;
  return true;
}

/** `mask &= ~drop` unless that leaves nothing allowed. */
export function subtractUnlessEmpty(mask: Uint32Array, drop: Uint32Array): boolean {
  let isAnyLeft = false;
  for (let w = 0; w < mask.length && !isAnyLeft; w++) isAnyLeft = ((mask[w] as number) & ~(drop[w] ?? 0)) !== 0;
  if (!isAnyLeft) return false;
  for (let w = 0; w < mask.length; w++) mask[w] = ((mask[w] as number) & ~(drop[w] ?? 0)) >>> 0;
  return true;
}
