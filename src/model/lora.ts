/**
 * Reads a PEFT LoRA adapter directory (`adapter_config.json` + `adapter_model.safetensors`)
 * into LoraWeights: fp32 A and B per targeted projection, scale folded from alpha and r.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from './errors.js';
import { SafetensorsCheckpoint, toFloat32 } from './safetensors.js';
import type { ModelSpec } from './spec.js';
import { architectureOf } from './arch/registry.js';
import type { Architecture } from './arch/types.js';
import { PROJECTIONS, projectionShape, type Projection } from './layout.js';
import type { LoraWeights } from './tensors.js';

/** PEFT's adapter tensor names: `base_model.model.<module>.lora_A[.<adapter name>].weight`. */
export const LORA_TENSOR = /^base_model\.model\.(.+)\.lora_([AB])(?:\.[A-Za-z0-9_-]+)?\.weight$/;

/**
 * The target names PEFT's `target_modules` uses for the family's projections (the last component
 * of the module name): one name may adapt several (Qwen v1's `c_attn` is q, k and v; its `c_proj`
 * both o_proj and down_proj, as PEFT matches a name in every layer module that ends with it).
 */
function projectionsOfTarget(arch: Architecture): Map<string, Projection[]> {
  const byTarget = new Map<string, Projection[]>();
  for (const p of PROJECTIONS) {
    const target = arch.checkpoint.loraModuleName(0, p).split('.').pop() ?? p;
    byTarget.set(target, [...(byTarget.get(target) ?? []), p]);
  }
  return byTarget;
}

export interface LoraAdapterConfig {
  rank: number;
  alpha: number;
  useRslora: boolean;
  /** The projections the adapter targets. */
  targets: Projection[];
}

export interface LoadLoraOptions {
  /** Adapters of a higher rank are refused (the runner's maxLoraRank). */
  maxRank: number;
  /** Every targeted projection of every layer must be present, with its shape in this model. */
  spec: ModelSpec;
}

type Json = Record<string, unknown>;

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'object' && Object.keys(value).length === 0);
}

/** adapter_config.json, its target modules named as `arch`'s checkpoints name them. */
export function parseLoraConfig(raw: Json, where: string, arch: Architecture): LoraAdapterConfig {
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
  const byTarget = projectionsOfTarget(arch);
  let targets: Projection[];
  if (rawTargets === 'all-linear') {
    targets = [...PROJECTIONS];
  } else if (typeof rawTargets === 'string') {
    const pattern = new RegExp(`^(?:${rawTargets})$`);
    // NOTE: PEFT full-matches the regex against module names; layer 0 stands for every layer.
    targets = PROJECTIONS.filter((p) => pattern.test(arch.checkpoint.loraModuleName(0, p)));
    if (targets.length === 0) throw new ModelLoadError(`${where}: target_modules "${rawTargets}" matches no supported projection`);
  } else if (Array.isArray(rawTargets) && rawTargets.every((t): t is string => typeof t === 'string')) {
    targets = rawTargets.flatMap((name) => {
      const t = name.split('.').pop() ?? name;
      const projections = byTarget.get(t);
      if (!projections) throw new ModelLoadError(`${where}: unknown target module "${t}" (supported: ${[...byTarget.keys()].join(', ')})`);
      return projections;
    });
  } else {
    throw new ModelLoadError(`${where}: "target_modules" must be a list of module names`);
  }
  return { rank, alpha, useRslora: raw['use_rslora'] === true, targets };
}

/** lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA. */
export function loraScale(config: LoraAdapterConfig): number {
  return config.useRslora ? config.alpha / Math.sqrt(config.rank) : config.alpha / config.rank;
}

export function loadLoraAdapter(dir: string, options: LoadLoraOptions): LoraWeights {
  const configPath = join(dir, 'adapter_config.json');
  if (!existsSync(configPath)) throw new ModelLoadError(`no adapter_config.json in ${dir}`);
  let raw: Json;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8')) as Json;
  } catch (err) {
    throw new ModelLoadError(`cannot read ${configPath}: ${(err as Error).message}`);
  }
  const arch = architectureOf(options.spec);
  const config = parseLoraConfig(raw, configPath, arch);
  if (config.rank > options.maxRank) {
    throw new ModelLoadError(`${dir}: LoRA rank ${config.rank} exceeds the maximum rank ${options.maxRank} (raise --max-lora-rank)`);
  }
  const checkpoint = SafetensorsCheckpoint.open(dir, 'adapter_model');
  try {
    const parts = new Map<string, { a?: string; b?: string }>();
    for (const name of checkpoint.names()) {
      const match = LORA_TENSOR.exec(name);
      if (!match) {
        throw new ModelLoadError(`${dir}: unsupported adapter tensor "${name}" (only lora_A / lora_B of linear projections)`);
      }
      const moduleName = match[1] ?? '';
      if (!arch.checkpoint.parseLoraModuleName(moduleName)) throw new ModelLoadError(`${dir}: tensor "${name}" targets unknown module "${moduleName}"`);
      const entry = parts.get(moduleName) ?? {};
      if (match[2] === 'A') entry.a = name;
      else entry.b = name;
      parts.set(moduleName, entry);
    }
    for (let layer = 0; layer < options.spec.numLayers; layer++) {
      for (const target of config.targets) {
        const moduleName = arch.checkpoint.loraModuleName(layer, target);
        const entry = parts.get(moduleName);
        for (const ab of ['A', 'B'] as const) {
          if (!entry?.[ab === 'A' ? 'a' : 'b']) {
            throw new ModelLoadError(`${dir}: adapter is missing tensor "base_model.model.${moduleName}.lora_${ab}.weight"`);
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
      checkModuleShape(options.spec, arch, moduleName, inFeatures, outFeatures, dir);
      modules.set(moduleName, { a: toFloat32(a), b: toFloat32(b), inFeatures, outFeatures });
    }
    return { rank: config.rank, scale: loraScale(config), modules };
  } finally {
    checkpoint.close();
  }
}

function checkModuleShape(spec: ModelSpec, arch: Architecture, moduleName: string, inFeatures: number, outFeatures: number, dir: string): void {
  const target = arch.checkpoint.parseLoraModuleName(moduleName);
  if (!target || target.layer >= spec.numLayers) throw new ModelLoadError(`${dir}: module "${moduleName}" is not in the model`);
  // NOTE: a fused module's output rows are its projections' rows, one after another.
  const shapes = target.projections.map((p) => projectionShape(spec, p));
  const wantOut = shapes.reduce((rows, [out]) => rows + out, 0);
  const wantIn = shapes[0]?.[1];
  if (wantIn !== inFeatures || wantOut !== outFeatures) {
    throw new ModelLoadError(`${dir}: ${moduleName} maps ${inFeatures} -> ${outFeatures} features; the model needs ${wantIn} -> ${wantOut}`);
  }
}

/** Positional form of loadLoraAdapter. */
export function readLoraAdapter(dir: string, maxRank: number, spec: ModelSpec): LoraWeights {
  return loadLoraAdapter(dir, { maxRank, spec });
}
