/** Which weight format a checkpoint tensor is in. Adding a format = its file here + one entry in FORMATS + its native file per device. */
import { ModelLoadError } from '../errors.js';
import { isLinearSlot, type NativeTensor, type Slot } from '../layout.js';
import type { TensorData } from '../tensors.js';
import { DENSE_FORMATS, denseTensor } from './dense.js';
import { isQuantized, quantizedToNative, type QuantizedTensor } from './quantized.js';
import type { WeightFormat } from './types.js';

const FORMATS = new Map<string, WeightFormat>(DENSE_FORMATS.map((format) => [format.name, format]));

/** The format of a checkpoint tensor, named by its storage type. */
export function weightFormatOf(tensor: TensorData): WeightFormat {
  const format = FORMATS.get(tensor.dtype);
  if (!format) throw new ModelLoadError(`no weight format for ${tensor.dtype} tensors (known: ${[...FORMATS.keys()].join(', ')})`);
  return format;
}

/** One canonical tensor as native takes it: a linear slot through its weight format, anything else dense. */
export function nativeTensorOf(slot: Slot, tensor: TensorData | QuantizedTensor): NativeTensor {
  if (isQuantized(tensor)) return quantizedToNative(tensor);
  return isLinearSlot(slot) ? weightFormatOf(tensor).toNative(tensor) : denseTensor(tensor);
}
