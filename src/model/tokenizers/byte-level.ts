/**
 * GPT-2's byte-level alphabet: each byte as a printable character (a space is `Ġ`), the way
 * tokenizer.json vocabularies spell byte-level BPE tokens. Qwen v1's ranks are raw bytes;
 * spelling them this way makes its token strings the same as Qwen2's tokenizer.json ones.
 */

function isPrintableByte(byte: number): boolean {
  return (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
}

const BYTE_TO_CHAR: readonly string[] = (() => {
  const chars: string[] = [];
  let next = 256;
  for (let byte = 0; byte < 256; byte++) chars.push(String.fromCodePoint(isPrintableByte(byte) ? byte : next++));
  return chars;
})();

const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((char, byte) => [char, byte]));

export function bytesToByteLevel(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += BYTE_TO_CHAR[byte];
  return text;
}

/** The bytes a byte-level string spells, or undefined when it has a character outside the alphabet. */
export function byteLevelToBytes(text: string): Uint8Array | undefined {
  const bytes: number[] = [];
  for (const char of text) {
    const byte = CHAR_TO_BYTE.get(char);
    if (byte === undefined) return undefined;
    bytes.push(byte);
  }
  return Uint8Array.from(bytes);
}
