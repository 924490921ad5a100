/**
 * Request fields for tools and structured outputs, as zod shapes to spread into
 * schemas.ts's chat (and, for the structured ones, completion) request schemas, plus the
 * checks that span fields. OpenAI's validation: a wrong type or value is a 400 naming the
 * field (`param`), e.g. `response_format.type`, `tools.0.function.name`, `tool_choice`.
 */
import { z } from 'zod';

/** OpenAI: a-z, A-Z, 0-9, underscores and dashes, at most 64 characters. */
const functionName = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be a-z, A-Z, 0-9, underscores and dashes, with a maximum length of 64');

const jsonSchemaObject = z.record(z.string(), z.unknown());

const responseFormatSchema = z.discriminatedUnion(
  'type',
  [
    z.looseObject({ type: z.literal('text') }),
    z.looseObject({ type: z.literal('json_object') }),
    z.looseObject({
      type: z.literal('json_schema'),
      json_schema: z.looseObject({
        name: functionName,
        description: z.string().nullish(),
        schema: jsonSchemaObject.nullish(),
        strict: z.boolean().nullish(),
      }),
    }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? "Invalid value. Supported values are: 'text', 'json_object' and 'json_schema'." : undefined) },
);
export type ResponseFormat = z.infer<typeof responseFormatSchema>;

/** vLLM's `structured_outputs` (exactly one constraint) and the older `guided_*` fields. */
export const structuredOutputsSchema = z.looseObject({
  json: z.union([z.string(), jsonSchemaObject, z.boolean()]).nullish(),
  regex: z.string().nullish(),
  choice: z.array(z.string()).min(1).nullish(),
  grammar: z.string().nullish(),
  json_object: z.boolean().nullish(),
});
export type StructuredOutputsField = z.infer<typeof structuredOutputsSchema>;

export const structuredOutputFields = {
  response_format: responseFormatSchema.nullish(),
  structured_outputs: structuredOutputsSchema.nullish(),
  guided_json: z.union([z.string(), jsonSchemaObject]).nullish(),
  guided_regex: z.string().nullish(),
  guided_choice: z.array(z.string()).min(1).nullish(),
  guided_grammar: z.string().nullish(),
};

const toolSchema = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: functionName,
    description: z.string().nullish(),
    parameters: jsonSchemaObject.nullish(),
    strict: z.boolean().nullish(),
  }),
});
export type Tool = z.infer<typeof toolSchema>;

const namedToolChoiceSchema = z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) });

export const toolFields = {
  tools: z.array(toolSchema).min(1, 'empty array. Expected an array with minimum length 1').max(128).nullish(),
  tool_choice: z.union([z.enum(['none', 'auto', 'required']), namedToolChoiceSchema]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
};

export const agentChatRequestSchema = z.looseObject({ ...structuredOutputFields, ...toolFields });
export type AgentChatFields = z.infer<typeof agentChatRequestSchema>;

/** An assistant turn's call as clients send it back (openai-node, the AI SDK). */
const assistantToolCallSchema = z.looseObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

/**
 * Message fields the agent loop adds to schemas.ts's chatMessageSchema: an assistant turn with
 * `content: null` and `tool_calls`, a `role: "tool"` turn answering `tool_call_id`, and
 * `reasoning_content` sent back by reasoning clients.
 */
export const agentMessageFields = {
  tool_calls: z.array(assistantToolCallSchema).nullish(),
  tool_call_id: z.string().nullish(),
  reasoning_content: z.string().nullish(),
};

/** What is wrong with a `structured_outputs` value (exactly one constraint), or null. */
export function structuredOutputsProblem(structured: StructuredOutputsField): string | null {
  const kinds = (['json', 'regex', 'choice', 'grammar', 'json_object'] as const).filter((k) => structured[k] !== null && structured[k] !== undefined && structured[k] !== false);
  return kinds.length === 1 ? null : `must set exactly one of json, regex, choice, grammar and json_object, got ${kinds.length === 0 ? 'none' : kinds.join(', ')}`;
}

/** The checks OpenAI (and vLLM) make across fields, as [param, message] or null when fine. */
export function agentFieldProblem(request: AgentChatFields): [string, string] | null {
  const { tools, tool_choice: toolChoice } = request;
  if (toolChoice !== null && toolChoice !== undefined && (tools === null || tools === undefined)) {
    return ['tool_choice', "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."];
  }
  if (typeof toolChoice === 'object' && toolChoice !== null) {
    const name = toolChoice.function.name;
    if (!(tools ?? []).some((tool) => tool.function.name === name)) {
      return ['tool_choice', `Invalid value for 'tool_choice': no function named '${name}' was specified in the 'tools' parameter.`];
    }
  }
  const constraints = [
    request.response_format?.type === 'text' ? null : request.response_format,
    request.structured_outputs,
    request.guided_json,
    request.guided_regex,
    request.guided_choice,
    request.guided_grammar,
  ].filter((value) => value !== null && value !== undefined);
  if (constraints.length > 1) {
    return ['response_format', 'only one of response_format, structured_outputs and guided_* may constrain the output'];
  }
  const structured = request.structured_outputs;
  const structuredProblem = structured ? structuredOutputsProblem(structured) : null;
  if (structuredProblem !== null) return ['structured_outputs', structuredProblem];
  const constrainsToolChoice = toolChoice === 'required' || typeof toolChoice === 'object';
  if (constrainsToolChoice && constraints.length > 0) {
    return ['tool_choice', "tool_choice 'required' or a named function cannot be combined with response_format or structured_outputs"];
  }
  return null;
}
