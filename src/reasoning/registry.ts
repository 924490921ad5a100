/** `--reasoning-parser NAME`, with vLLM's names. */
import { ThinkReasoningParser, type ReasoningParser } from './think-parser.js';

const parsers: Record<string, () => ReasoningParser> = {
  qwen3: () => new ThinkReasoningParser(false),
  deepseek_r1: () => new ThinkReasoningParser(true),
};

export const reasoningParserNames: readonly string[] = Object.keys(parsers);

export function createReasoningParser(name: string): ReasoningParser {
  const create = parsers[name];
  if (create === undefined) throw new Error(`unknown reasoning parser '${name}' (known: ${reasoningParserNames.join(', ')})`);
  return create();
}
