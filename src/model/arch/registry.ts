/** config.json's `architectures[0]` -> the family module that loads it. Adding a family = one module + one line here. */
import { ModelLoadError } from '../errors.js';
import type { ModelSpec } from '../spec.js';
import { CHATGLM3 } from './chatglm3.js';
import { LLAMA } from './llama.js';
import { QWEN1 } from './qwen1.js';
import { QWEN2 } from './qwen2.js';
import { QWEN3 } from './qwen3.js';
import type { Architecture } from './types.js';

const FAMILIES: readonly Architecture[] = [LLAMA, QWEN2, QWEN3, QWEN1, CHATGLM3];

const BY_HF_ARCHITECTURE = new Map(FAMILIES.flatMap((arch) => arch.hfArchitectures.map((name) => [name, arch] as const)));

export const SUPPORTED_ARCHITECTURES: readonly string[] = [...BY_HF_ARCHITECTURE.keys()];

/** The family module of an `architectures[0]` string; a ModelLoadError listing the supported ones otherwise. */
export function architectureNamed(hfArchitecture: string): Architecture {
  const arch = BY_HF_ARCHITECTURE.get(hfArchitecture);
  if (!arch) {
    throw new ModelLoadError(
      `unsupported architecture "${hfArchitecture || '(none in config.json)'}"; supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`,
    );
  }
  return arch;
}

/** The family module a spec runs as. */
export function architectureOf(spec: ModelSpec): Architecture {
  const arch = FAMILIES.find((a) => a.family === spec.family);
  if (!arch) throw new ModelLoadError(`no architecture module for family "${spec.family}"`);
  return arch;
}
