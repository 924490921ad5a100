/** What a request constrains its output to, after the protocol has resolved its fields. */

export type StructuredOutputSpec =
  /** Any JSON object (response_format json_object). */
  | { kind: 'json_object' }
  /** A JSON Schema (response_format json_schema, structured_outputs.json, guided_json). */
  | { kind: 'json_schema'; schema: Record<string, unknown> | boolean }
  /** A regular expression over the whole output (xgrammar's regex dialect: ECMAScript-like, no lookaround). */
  | { kind: 'regex'; pattern: string }
  /** Exactly one of the strings. */
  | { kind: 'choice'; choices: readonly string[] }
  /** An EBNF grammar in xgrammar's (GBNF-like) syntax with a `root` rule. */
  | { kind: 'grammar'; ebnf: string };

/** A stable key for caching compiled grammars. */
export function specKey(spec: StructuredOutputSpec): string {
  return JSON.stringify(spec);
}

/** A JSON string literal as an EBNF terminal: EBNF strings use the same escapes for these characters. */
export function ebnfLiteral(text: string): string {
  return JSON.stringify(text);
}

/** `choice` as a grammar: one alternative per string, matched literally. */
export function choiceGrammar(choices: readonly string[]): string {
  return `root ::= ${choices.map(ebnfLiteral).join(' | ')}`;
}
