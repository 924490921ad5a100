/**
 * A dense checkpoint seen as a quantized one: every projection's `.weight` replaced by its packed
 * tensors (GPTQ's qweight/qzeros/scales/g_idx or AWQ's qweight/qzeros/scales, quantized by
 * `quantize` on first read), everything else passed through. The export writes it out; tests load
 * it directly.
 */
import { PROJECTIONS, projectionShape, type Projection } from '../layout.js';
import type { TensorData, WeightSource } from '../tensors.js';
import { architectureOf } from '../arch/registry.js';
import { toFloat32 } from '../safetensors.js';
import type { ModelSpec } from '../spec.js';
import type { QuantizedTensor } from '../weight-formats/quantized.js';

/** Quantizes one projection's dense weights [outputs, inputs] (RTN, or GPTQ / AWQ with calibration). */
export type ProjectionQuantizer = (weights: Float32Array, shape: [number, number], where: { layer: number; projection: Projection }) => QuantizedTensor;

export interface NamedSource extends WeightSource {
  names(): string[];
  info(name: string): { dtype: TensorData['dtype']; shape: number[] };
}

export type TensorInfo = { dtype: TensorData['dtype']; shape: number[] };

/** How one projection is stored on disk: the tensors that replace its `.weight`, by suffix. */
export interface ProjectionPacking {
  suffixes: readonly string[];
  /** A packed tensor's dtype and shape for a projection of [outputs, inputs], without quantizing anything. */
  info(suffix: string, shape: [number, number]): TensorInfo;
  pack(tensor: QuantizedTensor): Record<string, TensorData>;
}

export class QuantizedCheckpointView implements NamedSource {
  private readonly projections = new Map<string, { layer: number; projection: Projection }>();
  private cached: { module: string; packed: Record<string, TensorData> } | undefined;

  constructor(
    private readonly spec: ModelSpec,
    private readonly dense: NamedSource,
    private readonly packing: ProjectionPacking,
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
      return this.projections.has(module) ? this.packing.suffixes.map((suffix) => `${module}.${suffix}`) : [name];
    });
  }

  has(name: string): boolean {
    const packed = this.packedName(name);
    return packed ? this.dense.has(`${packed.module}.weight`) : this.dense.has(name);
  }

  /** A tensor's dtype and shape without quantizing anything (what a writer plans shards by). */
  info(name: string): TensorInfo {
    const packed = this.packedName(name);
    if (!packed) return this.dense.info(name);
    return this.packing.info(packed.suffix, projectionShape(this.spec, this.projections.get(packed.module)!.projection));
  }

  read(name: string): TensorData {
    const packed = this.packedName(name);
    if (!packed) return this.dense.read(name);
    return this.packedModule(packed.module)[packed.suffix]!;
  }

  private packedName(name: string): { module: string; suffix: string } | undefined {
    const dot = name.lastIndexOf('.');
    const module = name.slice(0, dot);
    const suffix = this.packing.suffixes.find((s) => s === name.slice(dot + 1));
    return suffix && this.projections.has(module) ? { module, suffix } : undefined;
  }

  private packedModule(module: string): Record<string, TensorData> {
    if (this.cached?.module !== module) {
      const where = this.projections.get(module)!;
      const shape = projectionShape(this.spec, where.projection);
      const weights = toFloat32(this.dense.read(`${module}.weight`));
      this.cached = { module, packed: this.packing.pack(this.quantize(weights, shape, where)) };
    }
    return this.cached.packed;
  }
}
