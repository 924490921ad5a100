/** A PEFT LoRA adapter with random A and B for any family, written as PEFT writes one (fp32). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { architectureOf } from '../../src/model/arch/registry.js';
import { PROJECTIONS, projectionShape } from '../../src/model/layout.js';
import { SafetensorsWriter } from '../../src/model/safetensors-writer.js';
import type { ModelSpec } from '../../src/model/spec.js';

export interface RandomLoraOptions {
  /** PEFT `target_modules`, as the family names them (e.g. `c_attn`). */
  targets: string[];
  rank: number;
  alpha: number;
  seed: number;
  /** Largest |value| of A and B. */
  magnitude: number;
}

/** Writes adapter_config.json and adapter_model.safetensors into `dir`. */
export function writeRandomLora(dir: string, spec: ModelSpec, options: RandomLoraOptions): void {
  const { checkpoint } = architectureOf(spec);
  let state = options.seed >>> 0;
  // NOTE: a small LCG is enough for test weights and keeps them the same on every run.
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const modules = new Map<string, { inFeatures: number; outFeatures: number }>();
  for (let layer = 0; layer < spec.numLayers; layer++) {
    for (const projection of PROJECTIONS) {
      const name = checkpoint.loraModuleName(layer, projection);
      if (!options.targets.includes(name.split('.').pop() ?? '')) continue;
      const [out, inFeatures] = projectionShape(spec, projection);
      const known = modules.get(name);
      modules.set(name, { inFeatures, outFeatures: (known?.outFeatures ?? 0) + out });
    }
  }
  const tensors = [...modules].flatMap(([name, { inFeatures, outFeatures }]) => [
    { name: `base_model.model.${name}.lora_A.weight`, dtype: 'float32' as const, shape: [options.rank, inFeatures] },
    { name: `base_model.model.${name}.lora_B.weight`, dtype: 'float32' as const, shape: [outFeatures, options.rank] },
  ]);
  const writer = new SafetensorsWriter(dir, tensors, Infinity, { format: 'pt' }, 'adapter_model');
  for (const tensor of writer.order()) {
    const values = Float32Array.from({ length: tensor.shape.reduce((a, b) => a * b, 1) }, () => random() * options.magnitude);
    writer.write(tensor.name, new Uint8Array(values.buffer));
  }
  writer.finish();
  const config = { peft_type: 'LORA', r: options.rank, lora_alpha: options.alpha, target_modules: options.targets, bias: 'none' };
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
}
