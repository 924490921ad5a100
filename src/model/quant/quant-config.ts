/**
 * config.json's `quantization_config` (transformers' GPTQConfig / AwqConfig), checked up front:
 * a variant swiftlet cannot compute with is refused here with the reason, before any tensor is read.
 */
import { ModelLoadError } from '../errors.js';

export type QuantMethod = 'gptq' | 'awq';
export type QuantBits = 4 | 8;

export interface QuantConfig {
  method: QuantMethod;
  bits: QuantBits;
  /** Input columns per scale/zero group; -1 in the checkpoint (one group per row) becomes undefined. */
  groupSize: number | undefined;
  /** GPTQ act-order: columns were quantized in g_idx's order, so each column names its group. */
  descAct: boolean;
  /** Symmetric: the zero point is fixed at 2^(bits-1) (GPTQ sym); still stored in qzeros. */
  sym: boolean;
  /**
   * GPTQ's packing generation: v1 (AutoGPTQ's `gptq`) stores every zero point minus one; v2
   * (GPTQModel's `gptq_v2`) stores it as it is. AWQ has no offset.
   */
  zeroOffset: 0 | 1;
}

type Json = Record<string, unknown>;

const GROUP_SIZES = new Set([-1, 32, 64, 128]);

function refuse(reason: string): never {
  throw new ModelLoadError(`quantization_config: ${reason}`);
}

function bitsOf(raw: Json, key: string): QuantBits {
  const bits = raw[key];
  if (bits !== 4 && bits !== 8) refuse(`${key} ${String(bits)} is not supported (4 or 8)`);
  return bits;
}

function groupSizeOf(raw: Json, key: string): number | undefined {
  const size = raw[key] ?? -1;
  if (typeof size !== 'number' || !GROUP_SIZES.has(size)) refuse(`${key} ${String(size)} is not supported (32, 64, 128 or -1)`);
  return size === -1 ? undefined : size;
}

function gptqConfig(raw: Json): QuantConfig {
  const format = String(raw['checkpoint_format'] ?? 'gptq');
  if (format !== 'gptq' && format !== 'gptq_v2') refuse(`GPTQ checkpoint_format "${format}" is not supported (gptq or gptq_v2)`);
  return {
    method: 'gptq',
    bits: bitsOf(raw, 'bits'),
    groupSize: groupSizeOf(raw, 'group_size'),
    descAct: raw['desc_act'] === true,
    sym: raw['sym'] !== false,
    zeroOffset: format === 'gptq' ? 1 : 0,
  };
}

function awqConfig(raw: Json): QuantConfig {
  const version = String(raw['version'] ?? 'gemm').toLowerCase();
  if (version !== 'gemm') refuse(`AWQ version "${version}" is not supported (gemm)`);
  const bits = bitsOf(raw, raw['w_bit'] !== undefined ? 'w_bit' : 'bits');
  if (bits !== 4) refuse(`AWQ with ${bits} bits is not supported (4)`);
  if (raw['zero_point'] === false) refuse('AWQ without zero points is not supported');
  return { method: 'awq', bits, groupSize: groupSizeOf(raw, raw['q_group_size'] !== undefined ? 'q_group_size' : 'group_size'), descAct: false, sym: false, zeroOffset: 0 };
}

/** The checkpoint's quantization, or undefined for a dense checkpoint. */
export function parseQuantConfig(config: Json): QuantConfig | undefined {
  const raw = config['quantization_config'];
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object') refuse('is not an object');
  const method = (raw as Json)['quant_method'];
  if (method === 'gptq') return gptqConfig(raw as Json);
  if (method === 'awq') return awqConfig(raw as Json);
  return refuse(`quant_method "${String(method)}" is not supported (gptq, awq)`);
}
