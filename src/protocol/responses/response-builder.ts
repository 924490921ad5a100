/**
 * A Responses API `response` built from what the chat path produced, piece by piece, with the
 * stream events OpenAI sends for each piece: output items (reasoning, message, function_call)
 * open, grow by deltas and close in order. A whole (non-streamed) answer is one piece; its
 * events are dropped and only response() is kept, so both forms come from the same code.
 */
import { randomUUID } from 'node:crypto';
import type { ToolCallDelta } from '../../tools/types.js';
import type { ResponsesRequest } from './request.js';

export type Json = Record<string, unknown>;

/** One piece of the chat output (chat-output/choice-parser.ts's shape). */
export interface ResponsePiece {
  content: string;
  reasoning: string;
  toolCalls: ToolCallDelta[];
}

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number } | null;
}

type ItemKind = 'reasoning' | 'message' | 'function_call';

interface OpenItem {
  kind: ItemKind;
  index: number;
  /** The text (or arguments) so far. */
  text: string;
}

const ID_PREFIX: Record<ItemKind, string> = { reasoning: 'rs', message: 'msg', function_call: 'fc' };

function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '')}`;
}

export class ResponseBuilder {
  readonly id = newId('resp');
  private readonly createdAt = Math.floor(Date.now() / 1000);
  private readonly items: Json[] = [];
  private open: OpenItem | null = null;
  /** Output index of each chat tool-call index. */
  private readonly callItems = new Map<number, OpenItem>();
  private sequenceNumber = 0;
  private status: 'in_progress' | 'completed' | 'incomplete' = 'in_progress';
  private usage: Json | null = null;

  constructor(
    private readonly request: ResponsesRequest,
    private readonly model: string,
  ) {}

  /** response.created and response.in_progress. */
  start(): Json[] {
    return [this.event('response.created', { response: this.response() }), this.event('response.in_progress', { response: this.response() })];
  }

  add(piece: ResponsePiece): Json[] {
    const events: Json[] = [];
    if (piece.reasoning !== '') events.push(...this.appendText('reasoning', piece.reasoning));
    if (piece.content !== '') events.push(...this.appendText('message', piece.content));
    for (const call of piece.toolCalls) events.push(...this.appendCall(call));
    return events;
  }

  /** Closes what is open; a choice cut off by length makes the response `incomplete`. */
  finish(finishReason: string | null, usage: ChatUsage | null): Json[] {
    const events = this.closeOpen();
    this.status = finishReason === 'length' ? 'incomplete' : 'completed';
    if (usage !== null) {
      this.usage = {
        input_tokens: usage.prompt_tokens,
        input_tokens_details: { cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? 0 },
        output_tokens: usage.completion_tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: usage.total_tokens,
      };
    }
    const type = this.status === 'completed' ? 'response.completed' : 'response.incomplete';
    events.push(this.event(type, { response: this.response() }));
    return events;
  }

  response(): Json {
    const request = this.request;
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      status: this.status,
      error: null,
      incomplete_details: this.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: request.instructions ?? null,
      max_output_tokens: request.max_output_tokens ?? null,
      model: this.model,
      output: this.items.map((item) => structuredClone(item)),
      parallel_tool_calls: request.parallel_tool_calls ?? true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: false,
      temperature: request.temperature ?? null,
      text: { format: { type: 'text' } },
      tool_choice: request.tool_choice ?? 'auto',
      tools: request.tools ?? [],
      top_p: request.top_p ?? null,
      truncation: 'disabled',
      usage: this.usage,
      user: request.user ?? null,
      metadata: request.metadata ?? {},
    };
  }

  private event(type: string, fields: Json): Json {
    return { type, sequence_number: this.sequenceNumber++, ...fields };
  }

  private item(open: OpenItem): Json {
    return this.items[open.index] as Json;
  }

  private openItem(kind: ItemKind, item: Json): { open: OpenItem; events: Json[] } {
    const events = this.closeOpen();
    const open: OpenItem = { kind, index: this.items.length, text: '' };
    this.items.push({ id: newId(ID_PREFIX[kind]), type: kind, ...item });
    this.open = open;
    events.push(this.event('response.output_item.added', { output_index: open.index, item: structuredClone(this.item(open)) }));
    return { open, events };
  }

  private appendText(kind: 'reasoning' | 'message', text: string): Json[] {
    const events: Json[] = [];
    let open = this.open;
    if (open?.kind !== kind) {
      const opened = kind === 'message'
        ? this.openItem(kind, { status: 'in_progress', role: 'assistant', content: [] })
        : this.openItem(kind, { summary: [], content: [] });
      open = opened.open;
      events.push(...opened.events);
      const part = kind === 'message' ? { type: 'output_text', text: '', annotations: [], logprobs: [] } : { type: 'reasoning_text', text: '' };
      (this.item(open)['content'] as Json[]).push(part);
      if (kind === 'message') events.push(this.event('response.content_part.added', { ...this.partRef(open), part: structuredClone(part) }));
    }
    open.text += text;
    ((this.item(open)['content'] as Json[])[0] as Json)['text'] = open.text;
    const type = kind === 'message' ? 'response.output_text.delta' : 'response.reasoning_text.delta';
    events.push(this.event(type, { ...this.partRef(open), delta: text, ...(kind === 'message' ? { logprobs: [] } : {}) }));
    return events;
  }

  private appendCall(call: ToolCallDelta): Json[] {
    const events: Json[] = [];
    let open = this.callItems.get(call.index);
    if (open === undefined) {
      const opened = this.openItem('function_call', { call_id: call.id ?? newId('call'), name: call.function.name ?? '', arguments: '', status: 'in_progress' });
      open = opened.open;
      events.push(...opened.events);
      this.callItems.set(call.index, open);
    }
    const fragment = call.function.arguments;
    if (fragment === '') return events;
    open.text += fragment;
    this.item(open)['arguments'] = open.text;
    events.push(this.event('response.function_call_arguments.delta', { item_id: this.item(open)['id'], output_index: open.index, delta: fragment }));
    return events;
  }

  private partRef(open: OpenItem): Json {
    return { item_id: this.item(open)['id'], output_index: open.index, content_index: 0 };
  }

  private closeOpen(): Json[] {
    const open = this.open;
    if (open === null) return [];
    this.open = null;
    const item = this.item(open);
    const events: Json[] = [];
    if (open.kind === 'message') {
      events.push(this.event('response.output_text.done', { ...this.partRef(open), text: open.text, logprobs: [] }));
      events.push(this.event('response.content_part.done', { ...this.partRef(open), part: structuredClone((item['content'] as Json[])[0]) }));
    } else if (open.kind === 'reasoning') {
      events.push(this.event('response.reasoning_text.done', { ...this.partRef(open), text: open.text }));
    } else {
      events.push(this.event('response.function_call_arguments.done', { item_id: item['id'], output_index: open.index, arguments: open.text }));
    }
    if (open.kind !== 'reasoning') item['status'] = 'completed';
    events.push(this.event('response.output_item.done', { output_index: open.index, item: structuredClone(item) }));
    return events;
  }
}
