/**
 * Reads a PEFT LoRA adapter directory (`adapter_config.json` + `adapter_model.safetensors`)
 * into LoraWeights: fp32 A and B per targeted projection, scale folded from alpha and r.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from './errors.js';
import { SafetensorsCheckpoint, toFloat32 } from './safetensors.js';
import type { ModelSpec } from './spec.js';
import { LAYER_PROJECTIONS, layerPrefix } from './weights.js';
import type { LoraWeights } from '../runtime/types.js';

/** Target names PEFT uses for our projections (the last component of the module name). */
const PROJECTION_OF_TARGET = new Map<string, string>(LAYER_PROJECTIONS.map((p) => [p.split('.')[1] ?? p, p]));

export interface LoraAdapterConfig {
  rank: number;
  alpha: number;
  useRslora: boolean;
  /** Projection names (`q_proj`, ...) the adapter targets. */
  targets: string[];
}

export interface LoadLoraOptions {
  /** Adapters of a higher rank are refused (the runner's maxLoraRank). */
  maxRank: number;
  /** When given, every targeted projection of every layer must be present with matching shapes. */
  spec?: ModelSpec;
}

type Json = Record<string, unknown>;

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'object' && Object.keys(value).length === 0);
}

export function parseLoraConfig(raw: Json, where: string): LoraAdapterConfig {
  const peftType = raw['peft_type'];
  if (peftType !== undefined && peftType !== 'LORA') throw new ModelLoadError(`${where}: peft_type "${String(peftType)}" is not LORA`);
  const rank = raw['r'];
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank <= 0) throw new ModelLoadError(`${where}: "r" must be a positive integer`);
  const alpha = typeof raw['lora_alpha'] === 'number' ? raw['lora_alpha'] : rank;
  if (raw['use_dora'] === true) throw new ModelLoadError(`${where}: DoRA adapters are not supported`);
  if (!isEmpty(raw['rank_pattern']) || !isEmpty(raw['alpha_pattern'])) {
    throw new ModelLoadError(`${where}: per-module rank_pattern / alpha_pattern are not supported`);
  }
  if (!isEmpty(raw['modules_to_save'])) throw new ModelLoadError(`${where}: modules_to_save is not supported`);
  if (raw['bias'] !== undefined && raw['bias'] !== 'none') throw new ModelLoadError(`${where}: LoRA bias "${String(raw['bias'])}" is not supported`);
  const rawTargets = raw['target_modules'];
  let targets: string[];
  if (rawTargets === 'all-linear') {
    targets = [...PROJECTION_OF_TARGET.keys()];
  } else if (typeof rawTargets === 'string') {
    const pattern = new RegExp(`^(?:${rawTargets})$`);
    // NOTE: PEFT full-matches the regex against module names; layer 0 stands for every layer.
    targets = [...PROJECTION_OF_TARGET.keys()].filter((t) => pattern.test(`model.layers.0.${PROJECTION_OF_TARGET.get(t)}`));
    if (targets.length === 0) throw new ModelLoadError(`${where}: target_modules "${rawTargets}" matches no supported projection`);
  } else if (Array.isArray(rawTargets) && rawTargets.every((t): t is string => typeof t === 'string')) {
    targets = rawTargets.map((t) => t.split('.').pop() ?? t);
    for (const t of targets) {
      if (!PROJECTION_OF_TARGET.has(t)) {
        throw new ModelLoadError(`${where}: unknown target module "${t}" (supported: ${[...PROJECTION_OF_TARGET.keys()].join(', ')})`);
      }
    }
  } else {
    throw new ModelLoadError(`${where}: "target_modules" must be a list of module names`);
  }
  return { rank, alpha, useRslora: raw['use_rslora'] === true, targets };
}

/** lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA. */
export function loraScale(config: LoraAdapterConfig): number {
  return config.useRslora ? config.alpha / Math.sqrt(config.rank) : config.alpha / config.rank;
}

const TENSOR_NAME = /^base_model\.model\.(.+)\.lora_([AB])(?:\.[A-Za-z0-9_-]+)?\.weight$/;

export function loadLoraAdapter(dir: string, options: LoadLoraOptions): LoraWeights {
  const configPath = join(dir, 'adapter_config.json');
  if (!existsSync(configPath)) throw new ModelLoadError(`no adapter_config.json in ${dir}`);
  let raw: Json;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8')) as Json;
  } catch (err) {
    throw new ModelLoadError(`cannot read ${configPath}: ${(err as Error).message}`);
  }
  const config = parseLoraConfig(raw, configPath);
  if (config.rank > options.maxRank) {
    throw new ModelLoadError(`${dir}: LoRA rank ${config.rank} exceeds the maximum rank ${options.maxRank} (raise --max-lora-rank)`);
  }
  const checkpoint = SafetensorsCheckpoint.open(dir, 'adapter_model');
  try {
    const parts = new Map<string, { a?: string; b?: string }>();
    for (const name of checkpoint.names()) {
      const match = TENSOR_NAME.exec(name);
      if (!match) {
        throw new ModelLoadError(`${dir}: unsupported adapter tensor "${name}" (only lora_A / lora_B of linear projections)`);
      }
      const moduleName = match[1] ?? '';
      const target = moduleName.split('.').pop() ?? '';
      if (!PROJECTION_OF_TARGET.has(target)) throw new ModelLoadError(`${dir}: tensor "${name}" targets unknown module "${target}"`);
      const entry = parts.get(moduleName) ?? {};
      if (match[2] === 'A') entry.a = name;
      else entry.b = name;
      parts.set(moduleName, entry);
    }
    if (options.spec) {
      for (let layer = 0; layer < options.spec.numLayers; layer++) {
        for (const target of config.targets) {
          const moduleName = `${layerPrefix(layer)}.${PROJECTION_OF_TARGET.get(target)}`;
          const entry = parts.get(moduleName);
          for (const ab of ['A', 'B'] as const) {
            if (!entry?.[ab === 'A' ? 'a' : 'b']) {
              throw new ModelLoadError(`${dir}: adapter is missing tensor "base_model.model.${moduleName}.lora_${ab}.weight"`);
            }
          }
        }
      }
    }
    const modules: LoraWeights['modules'] = new Map();
    for (const [moduleName, entry] of parts) {
      const missing = !entry.a ? 'A' : !entry.b ? 'B' : null;
      if (missing || !entry.a || !entry.b) {
        throw new ModelLoadError(`${dir}: adapter is missing tensor "base_model.model.${moduleName}.lora_${missing}.weight"`);
      }
      const a = checkpoint.read(entry.a);
      const b = checkpoint.read(entry.b);
      const [rankA, inFeatures] = a.shape;
      const [outFeatures, rankB] = b.shape;
      if (a.shape.length !== 2 || b.shape.length !== 2 || rankA !== config.rank || rankB !== config.rank || !inFeatures || !outFeatures) {
        throw new ModelLoadError(
          `${dir}: ${moduleName} has lora_A ${JSON.stringify(a.shape)} and lora_B ${JSON.stringify(b.shape)}, expected rank ${config.rank}`,
        );
      }
      if (options.spec) checkModuleShape(options.spec, moduleName, inFeatures, outFeatures, dir);
      modules.set(moduleName, { a: toFloat32(a), b: toFloat32(b), inFeatures, outFeatures });
    }
    return { rank: config.rank, scale: loraScale(config), modules };
  } finally {
    checkpoint.close();
  }
}

function checkModuleShape(spec: ModelSpec, moduleName: string, inFeatures: number, outFeatures: number, dir: string): void {
  const match = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)$/.exec(moduleName);
  if (!match || Number(match[1]) >= spec.numLayers) throw new ModelLoadError(`${dir}: module "${moduleName}" is not in the model`);
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  const H = spec.hiddenSize;
  const I = spec.intermediateSize;
  const shapes: Record<string, [number, number]> = {
    q_proj: [H, q],
    k_proj: [H, kv],
    v_proj: [H, kv],
    o_proj: [q, H],
    gate_proj: [H, I],
    up_proj: [H, I],
    down_proj: [I, H],
  };
  const want = shapes[match[2] ?? ''];
  if (!want || want[0] !== inFeatures || want[1] !== outFeatures) {
    throw new ModelLoadError(`${dir}: ${moduleName} maps ${inFeatures} -> ${outFeatures} features; the model needs ${want?.[0]} -> ${want?.[1]}`);
  }
}

/** Positional form of loadLoraAdapter. */
export function readLoraAdapter(dir: string, maxRank: number, spec?: ModelSpec): LoraWeights {
  return loadLoraAdapter(dir, spec ? { maxRank, spec } : { maxRank });
}
