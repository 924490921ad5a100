/**
 * The LoRA adapters a host serves: name -> resident slot in the runner. Adapters are loaded
 * into a free slot and served in the same batches as the base model (each row its own).
 */
import { readLoraAdapter } from '../model/lora.js';
import type { ModelRunner } from '../runtime/types.js';

export interface AdapterEntry {
  name: string;
  path: string;
  slot: number;
  /** Identity in the prefix cache: reloading an adapter under the same name must not reuse old KV blocks. */
  key: string;
}

export class AdapterError extends Error {
  override name = 'AdapterError';
  constructor(
    message: string,
    readonly status: 400 | 404,
  ) {
    super(message);
  }
}

export class AdapterRegistry {
  private readonly byName = new Map<string, AdapterEntry>();
  private loadCount = 0;

  constructor(
    private readonly runner: ModelRunner,
    readonly maxLoraRank: number,
  ) {}

  list(): AdapterEntry[] {
    return [...this.byName.values()];
  }

  get(name: string): AdapterEntry | undefined {
    return this.byName.get(name);
  }

  load(name: string, path: string): AdapterEntry {
    if (this.byName.has(name)) throw new AdapterError(`adapter '${name}' is already loaded`, 400);
    const used = new Set(this.list().map((entry) => entry.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    if (this.runner.maxLoras === 0) {
      throw new AdapterError(`the ${this.runner.device} runner does not support LoRA adapters yet (use --device cpu, or merge the adapter with swiftlet export --merge-lora)`, 400);
    }
    if (slot >= this.runner.maxLoras) {
      throw new AdapterError(`all ${this.runner.maxLoras} adapter slots are in use (raise --max-loras or unload one)`, 400);
    }
    let weights;
    try {
      weights = readLoraAdapter(path, this.maxLoraRank, this.runner.spec);
    } catch (error) {
      throw new AdapterError(`cannot load adapter '${name}' from ${path}: ${(error as Error).message}`, 400);
    }
    this.runner.loadAdapter(slot, weights);
    const entry: AdapterEntry = { name, path, slot, key: `${name}#${++this.loadCount}` };
    this.byName.set(name, entry);
    return entry;
  }

  unload(name: string): void {
    const entry = this.byName.get(name);
    if (!entry) throw new AdapterError(`adapter '${name}' is not loaded`, 404);
    this.byName.delete(name);
    this.runner.unloadAdapter(entry.slot);
  }
}
