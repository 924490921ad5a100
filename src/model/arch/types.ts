/**
 * What one architecture family owns (vLLM's `models/<family>.py`, llama.cpp's per-architecture
 * name tables): its config.json switches, how its checkpoint's tensors make the canonical
 * layout (src/model/layout.ts), its LoRA module names and its llama.cpp (GGUF) identity.
 * The forward pass itself is shared: a family differs only by the ModelSpec switches.
 */
import type { ModelSpec, RopeSpec } from '../spec.js';
import type { Projection, SlotRef } from '../layout.js';
import type { TensorData, WeightSource } from '../tensors.js';

export type Json = Record<string, unknown>;

/** The ModelSpec fields a family reads from config.json its own way; shared parsing (sizes, rope, dtype, eos) is config.ts's. */
export type FamilySwitches = Pick<ModelSpec, 'qkvBias' | 'oBias' | 'mlpBias' | 'qkNorm' | 'lognAttnContext'> & {
  /** Rope details no transformers config key carries; merged over the shared rope parsing. */
  rope?: Pick<RopeSpec, 'interleaved' | 'dynamicNtkContext'>;
};

/** A checkpoint's tensor names mapped onto the canonical (layer, slot) layout. */
export interface CheckpointLayout {
  /** The checkpoint tensors (layer, slot) is made of, in row order (q/k/v for `qkv`; one name when already fused). */
  tensorsOf(ref: SlotRef): string[];
  /** (layer, slot) in the canonical layout: its tensors' rows concatenated (and renamed or permuted, for a family that needs it). */
  read(spec: ModelSpec, source: WeightSource, ref: SlotRef): TensorData;
  /**
   * PEFT's name of the module a LoRA adapter targets for (layer, projection): the base weight's name
   * without `.weight`. Projections fused in the checkpoint (Qwen v1's `c_attn`) share one module.
   */
  loraModuleName(layer: number, projection: Projection): string;
  /** The inverse of loraModuleName; undefined for a name that is no projection of a decoder layer. */
  parseLoraModuleName(name: string): LoraModuleTarget | undefined;
}

/** What a PEFT module adapts: the projections its output rows hold, in row order (several for a fused module). */
export interface LoraModuleTarget {
  layer: number;
  projections: readonly Projection[];
}

/** The family as llama.cpp loads it. */
export interface GgufArchitecture {
  /** `general.architecture`, and the prefix of the hyperparameter keys. */
  name: string;
  /** llama.cpp rotates adjacent pairs in this architecture, so q and k rows are regrouped per head (see tensor-names.ts). */
  permutesRope: boolean;
  /** llama.cpp reads llama3 rope scaling as a `rope_freqs` tensor in this architecture (no other can express it). */
  ropeFreqsTensor: boolean;
  /** What llama.cpp's architecture has no place for in this spec (refused by the export), or undefined. */
  unsupported(spec: ModelSpec): string | undefined;
  /** llama.cpp rotates only `rope.dimension_count` channels of each head here, as the checkpoint's partial rotary does (others refuse it). */
  partialRotary?: boolean;
  /** `feed_forward_length` when llama.cpp's architecture reads it otherwise than as the gate's width (default: intermediateSize). */
  feedForwardLength?(spec: ModelSpec): number;
}

export interface Architecture {
  family: ModelSpec['family'];
  /** config.json `architectures[0]` values that load as this family. */
  hfArchitectures: readonly string[];
  /**
   * config.json with the family's own keys renamed to transformers' standard ones (`num_layers` ->
   * `num_hidden_layers`, `kv_channels` -> `head_dim`, ...) for the shared parsing; absent when it uses them already.
   */
  standardConfig?(config: Json): Json;
  /** Reads the original config.json (before standardConfig). */
  switches(config: Json): FamilySwitches;
  checkpoint: CheckpointLayout;
  gguf: GgufArchitecture;
  /** The tokenizer kind the family's checkpoints ship (llama.cpp's `tokenizer.ggml.model`: byte-level BPE or SentencePiece). */
  tokenizer: 'gpt2' | 'llama';
}
