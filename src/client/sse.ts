/** Server-sent events from a fetch body: the `data` of each event, until `[DONE]` or the end. */

export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        if (line === '') {
          if (data.length > 0) {
            const event = data.join('\n');
            data = [];
            if (event === '[DONE]') return;
            yield event;
          }
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        }
        // NOTE: comments (`:`), `event:`, `id:` and `retry:` lines carry nothing the API uses.
      }
      if (done) break;
    }
    if (data.length > 0 && data.join('\n') !== '[DONE]') yield data.join('\n');
  } finally {
    await reader.cancel().catch(() => {});
  }
}
