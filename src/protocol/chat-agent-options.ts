/** The server's choices for tool calls and reasoning (vLLM's flags of the same names). */
export interface ChatAgentOptions {
  /** `--enable-auto-tool-choice`: the model may decide to call a tool (tool_choice "auto"). */
  enableAutoToolChoice: boolean;
  /** `--tool-call-parser NAME`: how calls are read out of the model's text. */
  toolCallParser: string | null;
  /** `--reasoning-parser NAME`: reasoning split from the answer as `reasoning_content`. */
  reasoningParser: string | null;
}

export const NO_CHAT_AGENT: ChatAgentOptions = { enableAutoToolChoice: false, toolCallParser: null, reasoningParser: null };
