/** The dense formats: bf16, fp16 and fp32 weights, passed as the checkpoint stores them (native packs them for its kernels). */
import type { NativeTensor } from '../layout.js';
import type { TensorData } from '../tensors.js';
import type { WeightDtype } from '../spec.js';
import type { WeightFormat } from './types.js';

/** A dense tensor as native takes it: norms, biases and the embedding always cross this way. */
export function denseTensor(tensor: TensorData): NativeTensor {
  return { format: tensor.dtype, shape: tensor.shape, buffers: { weight: tensor.bytes } };
}

const DTYPES: readonly WeightDtype[] = ['bfloat16', 'float16', 'float32'];

export const DENSE_FORMATS: readonly WeightFormat[] = DTYPES.map((name) => ({ name, toNative: denseTensor }));
