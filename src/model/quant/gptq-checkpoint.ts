/**
 * A dense checkpoint seen as a GPTQ one: every projection's `.weight` replaced by its packed
 * qweight/qzeros/scales/g_idx (quantized by `quantize` on first read), everything else passed
 * through. The export writes it out; tests load it directly.
 */
import { PROJECTIONS, projectionShape, type Projection } from '../layout.js';
import type { TensorData, WeightSource } from '../tensors.js';
import { architectureOf } from '../arch/registry.js';
import { toFloat32 } from '../safetensors.js';
import type { ModelSpec } from '../spec.js';
import type { QuantizedTensor } from '../weight-formats/quantized.js';
import { packGptq } from './gptq-packing.js';
import type { QuantGrid } from './rtn.js';

/** Quantizes one projection's dense weights [outputs, inputs] (RTN, or GPTQ with calibration). */
export type ProjectionQuantizer = (weights: Float32Array, shape: [number, number], where: { layer: number; projection: Projection }) => QuantizedTensor;

export interface NamedSource extends WeightSource {
  names(): string[];
  info(name: string): { dtype: TensorData['dtype']; shape: number[] };
}

type Packed = ReturnType<typeof packGptq>;
const PACKED_SUFFIXES = ['qweight', 'qzeros', 'scales', 'g_idx'] as const;

/** transformers' `quantization_config` (also written alone as quantize_config.json) for a GPTQ v1 checkpoint. */
export function gptqQuantizationConfig(grid: QuantGrid, descAct: boolean): Record<string, unknown> {
  return {
    quant_method: 'gptq', bits: grid.bits, group_size: grid.groupSize ?? -1, desc_act: descAct, sym: grid.sym,
    damp_percent: 0.01, true_sequential: true, checkpoint_format: 'gptq',
  };
}

export class GptqCheckpointView implements NamedSource {
  private readonly projections = new Map<string, { layer: number; projection: Projection }>();
  private cached: { module: string; packed: Packed } | undefined;

  constructor(
    private readonly spec: ModelSpec,
    private readonly dense: NamedSource,
    private readonly grid: QuantGrid,
    private readonly quantize: ProjectionQuantizer,
  ) {
    const { checkpoint } = architectureOf(spec);
    for (let layer = 0; layer < spec.numLayers; layer++) {
      for (const projection of PROJECTIONS) this.projections.set(checkpoint.loraModuleName(layer, projection), { layer, projection });
    }
  }

  names(): string[] {
    return this.dense.names().flatMap((name) => {
      const module = name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : '';
      return this.projections.has(module) ? PACKED_SUFFIXES.map((suffix) => `${module}.${suffix}`) : [name];
    });
  }

  has(name: string): boolean {
    const packed = this.packedName(name);
    return packed ? this.dense.has(`${packed.module}.weight`) : this.dense.has(name);
  }

  /** A tensor's dtype and shape without quantizing anything (what a writer plans shards by). */
  info(name: string): { dtype: TensorData['dtype']; shape: number[] } {
    const packed = this.packedName(name);
    if (!packed) return this.dense.info(name);
    const [outputs, inputs] = projectionShape(this.spec, this.projections.get(packed.module)!.projection);
    const perWord = 32 / this.grid.bits;
    const groups = this.grid.groupSize ? Math.ceil(inputs / this.grid.groupSize) : 1;
    const shapes = { qweight: [inputs / perWord, outputs], qzeros: [groups, outputs / perWord], scales: [groups, outputs], g_idx: [inputs] };
    return { dtype: packed.suffix === 'scales' ? 'float16' : 'int32', shape: shapes[packed.suffix] };
  }

  read(name: string): TensorData {
    const packed = this.packedName(name);
    if (!packed) return this.dense.read(name);
    return this.packedModule(packed.module)[packed.suffix];
  }

  private packedName(name: string): { module: string; suffix: (typeof PACKED_SUFFIXES)[number] } | undefined {
    const dot = name.lastIndexOf('.');
    const module = name.slice(0, dot);
    const suffix = PACKED_SUFFIXES.find((s) => s === name.slice(dot + 1));
    return suffix && this.projections.has(module) ? { module, suffix } : undefined;
  }

  private packedModule(module: string): Packed {
    if (this.cached?.module !== module) {
      const where = this.projections.get(module)!;
      const shape = projectionShape(this.spec, where.projection);
      const weights = toFloat32(this.dense.read(`${module}.weight`));
      this.cached = { module, packed: packGptq(this.quantize(weights, shape, where)) };
    }
    return this.cached.packed;
  }
}
