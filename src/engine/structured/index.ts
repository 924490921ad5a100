/** Structured outputs: specs compiled to grammars (xgrammar), per-request matchers, token bitmasks. */
export { allowedTokenIds, applyTokenBitmask, bitmaskWords, isAllowed } from './bitmask.js';
export { DEFAULT_LIMITS, type StructuredOutputLimits } from './bounds.js';
export { CompiledGrammar, StructuredOutputCompiler } from './compiler.js';
export { GrammarMatcher } from './grammar-matcher.js';
export type { StructuredOutputSpec } from './spec.js';
export { StepBitmask } from './step-bitmask.js';
export { vocabularyFromTokenizerJson, type GrammarVocabulary } from './vocabulary.js';
export { GrammarError } from './xgrammar-module.js';
