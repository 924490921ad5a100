/**
 * The library's structured-output option (RequestConfig.structuredOutputs): vLLM's
 * `structured_outputs` request field in camelCase, with its semantics (exactly one constraint),
 * for the in-process Engine and the Client of a server alike.
 */

/** Exactly one of these constrains the answer. */
export interface StructuredOutputs {
  /** A JSON Schema (an object, or its JSON text) the answer must validate against. */
  json?: Readonly<Record<string, unknown>> | string | boolean;
  /** A regular expression the whole answer matches (xgrammar's dialect: no lookaround). */
  regex?: string;
  /** The answer is exactly one of these strings. */
  choice?: readonly string[];
  /** An EBNF grammar (xgrammar's GBNF-like syntax) with a `root` rule. */
  grammar?: string;
  /** Any JSON object. */
  jsonObject?: boolean;
}

/** The request field a server takes (`structured_outputs`); undefined members drop out of the JSON. */
export function structuredOutputsField(options: StructuredOutputs): Record<string, unknown> {
  return { json: options.json, regex: options.regex, choice: options.choice, grammar: options.grammar, json_object: options.jsonObject };
}
