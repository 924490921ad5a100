/** Row blocks of checkpoint tensors joined into one canonical tensor (q/k/v into `qkv`, gate/up into `gateUp`). */
import { ModelLoadError } from '../errors.js';
import type { TensorData } from '../tensors.js';

/** The tensors' rows, in order, as one tensor; a single part is returned as it is (no copy). */
export function concatRows(names: readonly string[], parts: readonly TensorData[], into: string): TensorData {
  const [first, ...rest] = parts;
  if (!first) throw new ModelLoadError(`${into}: no checkpoint tensor makes it`);
  if (rest.length === 0) return first;
  const tail = first.shape.slice(1);
  parts.forEach((part, i) => {
    if (part.dtype !== first.dtype) {
      throw new ModelLoadError(`tensor "${names[i]}" is ${part.dtype}, but "${names[0]}", fused with it into ${into}, is ${first.dtype}`);
    }
    if (part.shape.slice(1).join() !== tail.join()) {
      throw new ModelLoadError(`tensor "${names[i]}" is [${part.shape.join(', ')}]: its rows do not line up with "${names[0]}" [${first.shape.join(', ')}] in ${into}`);
    }
  });
  const rows = parts.reduce((n, p) => n + (p.shape[0] ?? 0), 0);
  return { dtype: first.dtype, shape: [rows, ...tail], bytes: joinBytes(parts.map((p) => p.bytes)) };
}

/** The blocks one after another, in one new array. */
export function joinBytes(blocks: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(blocks.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const block of blocks) {
    bytes.set(block, offset);
    offset += block.byteLength;
  }
  return bytes;
}
