/**
 * Outputs a forced tool_choice constrains (the grammar of src/engine/structured makes them
 * valid JSON): a named function's output is its arguments object, streamed as it comes;
 * "required" is a JSON array of `{"name", "parameters"}` calls, turned into calls once whole.
 */
import { randomToolCallId, type ToolCallIdSource } from '../../tools/tool-call-id.js';
import { wholeCallDeltas, type ParsedToolDelta, type ToolCallDelta, type ToolCallParser } from '../../tools/types.js';
import { WholeOutputParser } from '../../tools/whole-output-parser.js';

export class NamedCallParser implements ToolCallParser {
  private isHeaderSent = false;

  constructor(
    private readonly name: string,
    private readonly newId: ToolCallIdSource = randomToolCallId,
  ) {}

  push(textDelta: string): ParsedToolDelta {
    const toolCalls: ToolCallDelta[] = [];
    if (!this.isHeaderSent) {
      this.isHeaderSent = true;
      toolCalls.push({ index: 0, id: this.newId(), type: 'function', function: { name: this.name, arguments: '' } });
    }
    if (textDelta !== '') toolCalls.push({ index: 0, function: { arguments: textDelta } });
    return { content: '', toolCalls };
  }

  finish(): ParsedToolDelta {
    return this.push('');
  }
}

function isCallList(value: unknown): value is { name: string; parameters?: unknown }[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'object' && item !== null && typeof (item as { name?: unknown }).name === 'string');
}

export class RequiredCallsParser extends WholeOutputParser {
  constructor(private readonly newId: ToolCallIdSource = randomToolCallId) {
    super();
  }

  /** The calls; text that is not a list of calls (no grammar held the model to one) stays content. */
  protected parse(text: string): ParsedToolDelta {
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: content below
    }
    if (!isCallList(parsed) || parsed.length === 0) return { content: text, toolCalls: [] };
    const toolCalls = parsed.flatMap((call, index) => wholeCallDeltas(index, this.newId(), call.name, JSON.stringify(call.parameters ?? {})));
    return { content: '', toolCalls };
  }
}
