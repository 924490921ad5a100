/**
 * A checkpoint directory (config.json, safetensors, its tokenizer files) to one GGUF file that
 * llama.cpp (and so Ollama, LM Studio, node-llama-cpp) loads: metadata first, then the
 * tensors converted and written one at a time.
 * NOTE: Qwen v1 exports as llama.cpp's "qwen", which has neither dynamic NTK nor log-n attention
 * scaling: the file computes what the checkpoint does up to seq_length and plain rope past it.
 */
import { renameSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { loadModelSpec } from '../config.js';
import { ModelLoadError } from '../errors.js';
import { SafetensorsCheckpoint } from '../safetensors.js';
import type { ModelSpec } from '../spec.js';
import { checkWeights } from '../arch/checkpoint.js';
import { architectureOf } from '../arch/registry.js';
import { requiredSlots } from '../layout.js';
import type { TensorData, WeightSource } from '../tensors.js';
import { encodeTensor } from './encode.js';
import { GgufBuilder, Q8_0_BLOCK, type GgmlTypeName } from './gguf-file.js';
import { setModelMetadata } from './model-metadata.js';
import { ggufTensorName, permuteRopeRows, ropePermuteHeads, ROPE_FREQS_TENSOR } from './tensor-names.js';
import { setFamilyTokenizerMetadata } from './tokenizer-kinds.js';

export const GGUF_OUT_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'] as const;
export type GgufOutType = (typeof GGUF_OUT_TYPES)[number];

/** llama.cpp's `general.file_type` numbering (LLAMA_FTYPE_*). */
const FILE_TYPE: Record<GgufOutType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 };
const MATRIX_TYPE: Record<GgufOutType, GgmlTypeName> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0', q4_0: 'Q4_0' };

export interface ExportGgufOptions {
  modelDir: string;
  outputPath: string;
  outType: GgufOutType;
  /** Force `tokenizer.ggml.pre` instead of deriving it from the tokenizer's split regex. */
  tokenizerPre?: string;
  /** `general.name` (default: the directory's name). */
  name?: string;
  onTensor?: (done: number, total: number, name: string) => void;
}

export interface ExportGgufResult {
  spec: ModelSpec;
  numTensors: number;
  bytes: number;
}

/**
 * Storage type of one tensor: vectors (norms, biases) stay f32 as llama.cpp computes them;
 * a matrix whose rows do not split into Q8_0 / Q4_0 blocks falls back to f16.
 */
function tensorType(shape: readonly number[], outType: GgufOutType): GgmlTypeName {
  if (shape.length < 2) return 'F32';
  const type = MATRIX_TYPE[outType];
  if ((type === 'Q8_0' || type === 'Q4_0') && (shape[shape.length - 1] ?? 0) % Q8_0_BLOCK !== 0) return 'F16';
  return type;
}

interface PlannedTensor {
  hfName: string | null;
  permuteHeads: number;
}

/** A weight source that can tell a tensor's shape without reading it (SafetensorsCheckpoint can). */
export type ShapedWeightSource = WeightSource & { info(name: string): { shape: number[] } };

/** Writes `spec`'s tensors from `source` (plus the tokenizer files in `tokenizerDir`) as GGUF. */
export function writeGguf(spec: ModelSpec, source: ShapedWeightSource, tokenizerDir: string, options: Omit<ExportGgufOptions, 'modelDir'>): ExportGgufResult {
  checkWeights(spec, source);
  const gguf = new GgufBuilder();
  const ropeFactors = setModelMetadata(gguf, spec);
  gguf.set('general.name', { type: 'string', value: options.name ?? basename(tokenizerDir) });
  gguf.set('general.file_type', { type: 'uint32', value: FILE_TYPE[options.outType] });
  gguf.set('general.quantization_version', { type: 'uint32', value: 2 });
  setFamilyTokenizerMetadata(gguf, tokenizerDir, spec, options.tokenizerPre !== undefined ? { tokenizerPre: options.tokenizerPre } : {});

  const plan = new Map<string, PlannedTensor>();
  if (ropeFactors) {
    gguf.addTensor(ROPE_FREQS_TENSOR, [ropeFactors.length], 'F32');
    plan.set(ROPE_FREQS_TENSOR, { hfName: null, permuteHeads: 0 });
  }
  // NOTE: each checkpoint tensor of a slot is one GGUF tensor: llama.cpp's llama/qwen2/qwen3 read q, k and v
  // (gate and up) apart, its qwen and chatglm read the fused tensors those checkpoints have.
  const arch = architectureOf(spec);
  for (const ref of requiredSlots(spec)) {
    arch.checkpoint.tensorsOf(ref).forEach((hfName, part, parts) => {
      const { shape } = source.info(hfName);
      const name = ggufTensorName(ref, part, parts.length);
      gguf.addTensor(name, shape, tensorType(shape, options.outType));
      plan.set(name, { hfName, permuteHeads: ropePermuteHeads(spec, arch, ref.slot, part) });
    });
  }

  const total = gguf.tensorInfos.length;
  let done = 0;
  gguf.write(options.outputPath, (tensor) => {
    const planned = plan.get(tensor.name);
    if (!planned) throw new ModelLoadError(`GGUF export: no source for tensor "${tensor.name}"`);
    let data: TensorData;
    if (planned.hfName === null) {
      const values = ropeFactors ?? new Float32Array(0);
      data = { dtype: 'float32', shape: [values.length], bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
    } else {
      data = source.read(planned.hfName);
      if (data.shape.join() !== tensor.shape.join()) {
        throw new ModelLoadError(`GGUF export: tensor "${planned.hfName}" is [${data.shape.join(', ')}], expected [${tensor.shape.join(', ')}]`);
      }
      if (planned.permuteHeads > 0) data = { ...data, bytes: permuteRopeRows(data.bytes, data.shape[0] ?? 0, planned.permuteHeads) };
    }
    options.onTensor?.(++done, total, tensor.name);
    return encodeTensor(data, tensor.type);
  });
  const bytes = gguf.header().length + gguf.tensorInfos.reduce((n, t) => Math.max(n, t.offset + t.byteSize), 0);
  return { spec, numTensors: total, bytes };
}

/** `modelDir` to `outputPath`; the file appears only when complete (written to a temporary name first). */
export function exportGguf(options: ExportGgufOptions): ExportGgufResult {
  if (!(GGUF_OUT_TYPES as readonly string[]).includes(options.outType)) {
    throw new ModelLoadError(`GGUF export: unknown output type "${options.outType}" (${GGUF_OUT_TYPES.join(', ')})`);
  }
  const spec = loadModelSpec(options.modelDir);
  const checkpoint = SafetensorsCheckpoint.open(options.modelDir);
  const partial = `${options.outputPath}.partial`;
  try {
    const result = writeGguf(spec, checkpoint, options.modelDir, {
      ...options,
      outputPath: partial,
      name: options.name ?? basename(options.modelDir),
    });
    renameSync(partial, options.outputPath);
    return result;
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    checkpoint.close();
  }
}
