/**
 * Makes a live host's model "say" a given text: the forward pass runs as usual, then each
 * sampled token is replaced by the script's token at that sample index (EOS after it). So the
 * server's detokenizing, parsing and streaming of tool calls and reasoning run on known text,
 * whatever the fixture's weights would have said.
 */
import type { ModelHost } from '../../src/host/model-host.js';
import type { StepBatch, StepOutput } from '../../src/runtime/types.js';

export function scriptOutput(host: ModelHost, text: string): () => void {
  const runner = host.runner;
  const script = [...host.tokenizer.encode(text, { addSpecialTokens: false }), host.spec.eosTokenIds[0] as number];
  const original = runner.execute.bind(runner);
  runner.execute = async (batch: StepBatch): Promise<StepOutput> => {
    const out = await original(batch);
    for (let s = 0; s < batch.numSeqs; s++) {
      if (batch.sampling.doSample[s] !== 1) continue;
      out.sampledTokenIds[s] = script[Math.min(batch.sampling.sampleIndex[s] as number, script.length - 1)] as number;
    }
    return out;
  };
  return () => {
    runner.execute = original;
  };
}

/** Runs `run` while the host's model says `text`. */
export async function withScript<T>(host: ModelHost, text: string, run: () => Promise<T>): Promise<T> {
  const restore = scriptOutput(host, text);
  try {
    return await run();
  } finally {
    restore();
  }
}
