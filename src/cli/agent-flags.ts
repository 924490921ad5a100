/** `--enable-auto-tool-choice`, `--tool-call-parser`, `--reasoning-parser`, spelled and checked as vLLM does. */
import type { FlagSpecs, ParsedFlags } from './args.js';
import { UsageError } from './args.js';
import type { ChatAgentOptions } from '../protocol/chat-agent-options.js';
import { reasoningParserNames } from '../reasoning/registry.js';
import { toolCallParserNames } from '../tools/registry.js';

export const AGENT_FLAGS: FlagSpecs = {
  'enable-auto-tool-choice': { kind: 'boolean', default: false, help: 'let the model decide to call tools (tool_choice "auto"); needs --tool-call-parser' },
  'tool-call-parser': { kind: 'string', help: `how tool calls are read from the output: ${toolCallParserNames.join(', ')}` },
  'reasoning-parser': { kind: 'string', help: `split <think> reasoning into reasoning_content: ${reasoningParserNames.join(', ')}` },
};

function known(flag: string, value: string | undefined, names: readonly string[]): string | null {
  if (value === undefined) return null;
  if (!names.includes(value)) throw new UsageError(`--${flag} ${value}: not a known parser (known: ${names.join(', ')})`);
  return value;
}

export function agentOptionsFrom(flags: ParsedFlags): ChatAgentOptions {
  const toolCallParser = known('tool-call-parser', flags['tool-call-parser'] as string | undefined, toolCallParserNames);
  const enableAutoToolChoice = flags['enable-auto-tool-choice'] === true;
  if (enableAutoToolChoice && toolCallParser === null) throw new UsageError('--enable-auto-tool-choice needs --tool-call-parser');
  return {
    enableAutoToolChoice,
    toolCallParser,
    reasoningParser: known('reasoning-parser', flags['reasoning-parser'] as string | undefined, reasoningParserNames),
  };
}
