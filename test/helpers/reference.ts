/** Typed access to the transformers reference outputs in test/fixtures/tiny-qwen2.ref.json. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureDir } from './paths.js';

export interface ReferencePosition {
  token: number;
  logprob: number;
  top: [number, number][];
}

export interface ReferenceLogprobs {
  ids: number[];
  /** positions[i]: the distribution after ids[0..i], scored at ids[i + 1]. */
  positions: ReferencePosition[];
  next_top: [number, number][];
}

export interface ReferenceGeneration {
  prompt_ids: number[];
  output_ids: number[];
  margins: number[];
  finish_reason: string;
  text: string;
}

export interface ReferenceChat extends ReferenceGeneration {
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
  prompt_text: string;
}

export interface ReferenceRaw extends ReferenceGeneration {
  prompt: string;
}

export interface Reference {
  eos: number[];
  logprobs: ReferenceLogprobs[];
  chat: ReferenceChat[];
  raw: ReferenceRaw[];
  lora: { a: { dir: string; chat: ReferenceChat[]; raw: ReferenceRaw[]; logprobs: ReferenceLogprobs[] } };
}

export const modelDir = join(fixtureDir, 'tiny-qwen2');
export const loraDir = join(fixtureDir, 'tiny-qwen2-lora-a');
export const reference = JSON.parse(readFileSync(join(fixtureDir, 'tiny-qwen2.ref.json'), 'utf8')) as Reference;

/** Logprobs within this of transformers' fp32 values (fixtures/README.md). */
export const LOGPROB_TOLERANCE = 1e-3;

/**
 * Greedy outputs must be identical, except that after a step whose reference top-1/top-2
 * margin is under the tolerance a correct engine may pick the other token (and diverge).
 */
export function assertGreedyMatches(actual: number[], expected: ReferenceGeneration, label: string): void {
  for (let i = 0; i < expected.output_ids.length; i++) {
    if (actual[i] === expected.output_ids[i]) continue;
    if ((expected.margins[i] ?? Infinity) < LOGPROB_TOLERANCE) return;
    throw new Error(`${label}: token ${i} is ${actual[i]}, expected ${expected.output_ids[i]} (margin ${expected.margins[i]})\n  got      ${actual.join(',')}\n  expected ${expected.output_ids.join(',')}`);
  }
  if (actual.length !== expected.output_ids.length) {
    throw new Error(`${label}: ${actual.length} tokens, expected ${expected.output_ids.length}`);
  }
}
