/**
 * `--tool-call-parser qwen_react`: Qwen v1's ReAct replies as its openai_api.py's
 * `parse_response` reads them: `Thought: ...\nAction: name\nAction Input: {json}` is a call (the
 * thought is its content; `Observation:` is a stop word, and anything from it on is dropped),
 * anything else is an answer, whose content is what follows the last `\nFinal Answer: `.
 *
 * NOTE: which of the two a reply is, and so what its content is, is known only at its end, so
 * nothing is sent before it (Qwen's own server refuses to stream with functions at all).
 */
import { randomToolCallId, type ToolCallIdSource } from './tool-call-id.js';
import { wholeCallDeltas, type ParsedToolDelta } from './types.js';
import { WholeOutputParser } from './whole-output-parser.js';

const ACTION = '\nAction:';
const ACTION_INPUT = '\nAction Input:';
const OBSERVATION = '\nObservation:';
const THOUGHT = 'Thought: ';
const FINAL_ANSWER = '\nFinal Answer: ';

export class QwenReactToolCallParser extends WholeOutputParser {
  constructor(private readonly newId: ToolCallIdSource = randomToolCallId) {
    super();
  }

  protected parse(text: string): ParsedToolDelta {
    const action = text.indexOf(ACTION);
    const input = text.indexOf(ACTION_INPUT);
    const name = action >= 0 && action < input ? text.slice(action + ACTION.length, input).trim() : '';
    if (name === '') {
      const answer = text.lastIndexOf(FINAL_ANSWER);
      return { content: answer >= 0 ? text.slice(answer + FINAL_ANSWER.length) : text, toolCalls: [] };
    }
    const observation = text.indexOf(OBSERVATION, input);
    const args = text.slice(input + ACTION_INPUT.length, observation >= 0 ? observation : text.length).trim();
    const beforeAction = text.slice(0, action);
    const thought = beforeAction.indexOf(THOUGHT);
    return {
      content: (thought >= 0 ? beforeAction.slice(thought + THOUGHT.length) : beforeAction).trim(),
      toolCalls: wholeCallDeltas(0, this.newId(), name, args),
    };
  }
}
