/**
 * One choice's text read as a chat message: reasoning split off first (when a reasoning parser
 * is on), then what remains read for tool calls as the request's tool mode says. Fed the
 * decoded deltas in order, streamed or whole.
 */
import { createReasoningParser } from '../../reasoning/registry.js';
import type { ReasoningDelta, ReasoningParser } from '../../reasoning/think-parser.js';
import { createToolCallParser } from '../../tools/registry.js';
import type { ParsedToolDelta, ToolCallDelta, ToolCallParser } from '../../tools/types.js';
import type { ChatAgentRequest } from '../chat-agent-request.js';
import { NamedCallParser, RequiredCallsParser } from './forced-calls.js';

export interface ChoiceOutputDelta {
  content: string;
  reasoning: string;
  toolCalls: ToolCallDelta[];
}

function toolParserOf(request: ChatAgentRequest): ToolCallParser | null {
  const mode = request.toolMode;
  if (mode.kind === 'auto') return createToolCallParser(mode.parser);
  if (mode.kind === 'required') return new RequiredCallsParser();
  if (mode.kind === 'named') return new NamedCallParser(mode.name);
  return null;
}

export class ChoiceOutputParser {
  private readonly reasoning: ReasoningParser | null;
  private readonly tools: ToolCallParser | null;
  private numCalls = 0;

  constructor(request: ChatAgentRequest) {
    this.reasoning = request.reasoningParser === null ? null : createReasoningParser(request.reasoningParser);
    this.tools = toolParserOf(request);
  }

  /** Whether the output has made a tool call so far. */
  get hasToolCalls(): boolean {
    return this.numCalls > 0;
  }

  push(text: string): ChoiceOutputDelta {
    return this.split(this.reasoning?.push(text) ?? { reasoning: '', content: text }, false);
  }

  finish(): ChoiceOutputDelta {
    return this.split(this.reasoning?.finish() ?? { reasoning: '', content: '' }, true);
  }

  /** The output's last text and its end, as one delta. */
  pushLast(text: string): ChoiceOutputDelta {
    const parts = [this.push(text), this.finish()];
    return {
      content: parts.map((part) => part.content).join(''),
      reasoning: parts.map((part) => part.reasoning).join(''),
      toolCalls: parts.flatMap((part) => part.toolCalls),
    };
  }

  private split(reasoned: ReasoningDelta, isLast: boolean): ChoiceOutputDelta {
    const parsed: ParsedToolDelta[] = this.tools === null
      ? [{ content: reasoned.content, toolCalls: [] }]
      : [this.tools.push(reasoned.content), ...(isLast ? [this.tools.finish()] : [])];
    const toolCalls = parsed.flatMap((delta) => delta.toolCalls);
    this.numCalls += toolCalls.filter((call) => call.id !== undefined).length;
    return { content: parsed.map((delta) => delta.content).join(''), reasoning: reasoned.reasoning, toolCalls };
  }
}
