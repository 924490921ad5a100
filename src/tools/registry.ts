/** `--tool-call-parser NAME`, with vLLM's names. */
import { ChatGlm3ToolCallParser } from './chatglm3-parser.js';
import { HermesToolCallParser } from './hermes-parser.js';
import { Llama3JsonToolCallParser } from './llama3-json-parser.js';
import { QwenReactToolCallParser } from './qwen-react-parser.js';
import { randomToolCallId, type ToolCallIdSource } from './tool-call-id.js';
import type { ToolCallParser } from './types.js';

const parsers: Record<string, (newId: ToolCallIdSource) => ToolCallParser> = {
  hermes: (newId) => new HermesToolCallParser(newId),
  llama3_json: (newId) => new Llama3JsonToolCallParser(newId),
  // NOTE: vLLM has no parser for these two families; the names are swiftlet's.
  chatglm3: (newId) => new ChatGlm3ToolCallParser(newId),
  qwen_react: (newId) => new QwenReactToolCallParser(newId),
};

export const toolCallParserNames: readonly string[] = Object.keys(parsers);

/** A fresh parser for one choice; throws naming the known parsers when `name` is not one. */
export function createToolCallParser(name: string, newId: ToolCallIdSource = randomToolCallId): ToolCallParser {
  const create = parsers[name];
  if (create === undefined) {
    throw new Error(`unknown tool call parser '${name}' (known: ${toolCallParserNames.join(', ')})`);
  }
  return create(newId);
}
