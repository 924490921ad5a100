/**
 * A request's output constraint as one StructuredOutputSpec for the engine, from whichever
 * field set it: response_format, structured_outputs, guided_*, or a tool_choice that forces
 * a call ('required' or a named function), which vLLM also enforces as a JSON schema.
 */
import type { StructuredOutputSpec } from '../engine/structured/spec.js';
import { structuredOutputsProblem, structuredOutputsSchema, type AgentChatFields, type StructuredOutputsField, type Tool } from './agent-schemas.js';
import { invalidRequest } from './openai-error.js';

/** A JSON schema given as text (vLLM accepts both) must parse; a bad one is a 400 on its field. */
function schemaOf(value: string | Record<string, unknown> | boolean, param: string): Record<string, unknown> | boolean {
  if (typeof value !== 'string') return value;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    if (typeof parsed === 'boolean') return parsed;
  } catch {
    // falls through to the 400 below
  }
  throw invalidRequest(`${param} must be a JSON schema (an object), as JSON text or inline`, param);
}

/** A constraint and the request field that set it (what a 400 about it names). */
export interface StructuredOutputRequest {
  spec: StructuredOutputSpec;
  param: string;
}

function structuredOutputsSpec(field: StructuredOutputsField, prefix: string): StructuredOutputSpec | null {
  if (field.json !== null && field.json !== undefined && field.json !== false) {
    return { kind: 'json_schema', schema: schemaOf(field.json, `${prefix}.json`) };
  }
  if (typeof field.regex === 'string') return { kind: 'regex', pattern: field.regex };
  if (field.choice) return { kind: 'choice', choices: field.choice };
  if (typeof field.grammar === 'string') return { kind: 'grammar', ebnf: field.grammar };
  if (field.json_object === true) return { kind: 'json_object' };
  return null;
}

/** The named function's arguments, exactly: the output is the arguments object itself. */
function namedToolSchema(tool: Tool): Record<string, unknown> {
  return tool.function.parameters ?? { type: 'object' };
}

/**
 * tool_choice 'required': a JSON array of `{"name", "parameters"}` calls, each valid for its
 * own tool (vLLM's shape; the host turns the array into tool_calls). One call at most when
 * parallel_tool_calls is false.
 */
function requiredToolsSchema(tools: readonly Tool[], isParallel: boolean): Record<string, unknown> {
  return {
    type: 'array',
    minItems: 1,
    ...(isParallel ? {} : { maxItems: 1 }),
    items: {
      anyOf: tools.map((tool) => ({
        type: 'object',
        properties: { name: { const: tool.function.name }, parameters: namedToolSchema(tool) },
        required: ['name', 'parameters'],
        additionalProperties: false,
      })),
    },
  };
}

/** null when the output is free text. Assumes agentFieldProblem() found nothing. */
export function structuredOutputOf(request: AgentChatFields): StructuredOutputRequest | null {
  const { tools, tool_choice: toolChoice } = request;
  if (tools && toolChoice === 'required') {
    return { spec: { kind: 'json_schema', schema: requiredToolsSchema(tools, request.parallel_tool_calls ?? true) }, param: 'tools' };
  }
  if (tools && typeof toolChoice === 'object' && toolChoice !== null) {
    const tool = tools.find((t) => t.function.name === toolChoice.function.name) as Tool;
    return { spec: { kind: 'json_schema', schema: namedToolSchema(tool) }, param: 'tools' };
  }
  const format = request.response_format;
  if (format?.type === 'json_object') return { spec: { kind: 'json_object' }, param: 'response_format' };
  if (format?.type === 'json_schema') {
    return { spec: { kind: 'json_schema', schema: format.json_schema.schema ?? { type: 'object' } }, param: 'response_format.json_schema.schema' };
  }
  if (request.structured_outputs) {
    const spec = structuredOutputsSpec(request.structured_outputs, 'structured_outputs');
    return spec === null ? null : { spec, param: 'structured_outputs' };
  }
  return guidedSpec(request);
}

function guidedSpec(request: AgentChatFields): StructuredOutputRequest | null {
  if (request.guided_json !== null && request.guided_json !== undefined) {
    return { spec: { kind: 'json_schema', schema: schemaOf(request.guided_json, 'guided_json') }, param: 'guided_json' };
  }
  if (typeof request.guided_regex === 'string') return { spec: { kind: 'regex', pattern: request.guided_regex }, param: 'guided_regex' };
  if (request.guided_choice) return { spec: { kind: 'choice', choices: request.guided_choice }, param: 'guided_choice' };
  if (typeof request.guided_grammar === 'string') return { spec: { kind: 'grammar', ebnf: request.guided_grammar }, param: 'guided_grammar' };
  return null;
}

/**
 * A `structured_outputs` value on its own (the library's structuredOutputs option): checked as
 * the HTTP field is, a 400-style error on `param` when it is malformed or sets not exactly one
 * constraint.
 */
export function structuredOutputsFieldSpec(value: unknown, param: string): StructuredOutputSpec {
  const parsed = structuredOutputsSchema.safeParse(value);
  if (!parsed.success) throw invalidRequest(`${param}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'value'}: ${issue.message}`).join('; ')}`, param);
  const problem = structuredOutputsProblem(parsed.data);
  if (problem !== null) throw invalidRequest(`${param} ${problem}`, param);
  return structuredOutputsSpec(parsed.data, param) as StructuredOutputSpec;
}

/** The constraint alone; null when the output is free text. Assumes agentFieldProblem() found nothing. */
export function structuredOutputSpecOf(request: AgentChatFields): StructuredOutputSpec | null {
  return structuredOutputOf(request)?.spec ?? null;
}
