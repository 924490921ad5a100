/**
 * SentencePiece's BPE model, as sentencepiece's bpe_model.cc and sentencepiece_processor.cc
 * run it: the text normalised (dummy-prefix `▁`, spaces escaped as `▁`), split into characters,
 * the adjacent pair whose merge is the highest-scoring piece merged first (leftmost on a tie),
 * characters left outside the vocabulary spelled as `<0xNN>` byte pieces (byte fallback).
 * Decoding reverses it, dropping the dummy-prefix space once at the start.
 */
import { ModelType, PieceType, type SentencePieceModel } from './sentencepiece-model.js';

const SPACE_SYMBOL = '\u2581';
const REPLACEMENT_CHARACTER = '\uFFFD';
const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;

interface SymbolPair {
  left: number;
  right: number;
  score: number;
  /** Length of the merged piece, to tell a stale pair from a live one. */
  length: number;
}

/** The higher score first; on a tie the leftmost pair, as bpe_model.cc's comparator orders them. */
function isBefore(a: SymbolPair, b: SymbolPair): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left);
}

/** A binary heap of candidate merges. */
class MergeQueue {
  private readonly heap: SymbolPair[] = [];

  get isEmpty(): boolean {
    return this.heap.length === 0;
  }

  push(pair: SymbolPair): void {
    const heap = this.heap;
    heap.push(pair);
    for (let child = heap.length - 1; child > 0; ) {
      const parent = (child - 1) >> 1;
      if (!isBefore(heap[child]!, heap[parent]!)) break;
      [heap[child], heap[parent]] = [heap[parent]!, heap[child]!];
      child = parent;
    }
  }

  pop(): SymbolPair {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let parent = 0; ; ) {
        const left = 2 * parent + 1;
        const right = left + 1;
        let best = parent;
        if (left < heap.length && isBefore(heap[left]!, heap[best]!)) best = left;
        if (right < heap.length && isBefore(heap[right]!, heap[best]!)) best = right;
        if (best === parent) break;
        [heap[best], heap[parent]] = [heap[parent]!, heap[best]!];
        parent = best;
      }
    }
    return top;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes to text as sentencepiece does: each byte that starts no valid character is one U+FFFD. */
function decodeBytes(bytes: readonly number[]): string {
  let text = '';
  for (let at = 0; at < bytes.length; ) {
    const lead = bytes[at]!;
    const length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
    try {
      if (length === 0 || at + length > bytes.length) throw new Error('not a character');
      text += strictUtf8.decode(Uint8Array.from(bytes.slice(at, at + length)));
      at += length;
    } catch {
      text += REPLACEMENT_CHARACTER;
      at += 1;
    }
  }
  return text;
}

export class SentencePieceBpe {
  readonly numPieces: number;
  /** Pieces merges may produce (normal, unused), by text. */
  private readonly mergeable = new Map<string, number>();
  /** Control, unknown and byte pieces, by text: looked up first, as PieceToId does. */
  private readonly reserved = new Map<string, number>();
  private readonly byteIds: number[] = [];
  private readonly byteOfId = new Map<number, number>();
  private readonly unkId: number;

  constructor(private readonly model: SentencePieceModel) {
    if (model.modelType !== ModelType.Bpe) throw new Error(`SentencePiece model type ${ModelType[model.modelType] ?? model.modelType} is not supported (BPE only)`);
    if (model.hasCharsMap || model.treatWhitespaceAsSuffix) {
      throw new Error(`SentencePiece normaliser '${model.normalizerName}' is not supported (identity, whitespace as prefix only)`);
    }
    if (model.pieces.some((piece) => piece.type === PieceType.UserDefined)) {
      throw new Error('SentencePiece models with user-defined symbols are not supported');
    }
    this.numPieces = model.pieces.length;
    let unkId = -1;
    model.pieces.forEach(({ piece, type }, id) => {
      const isMergeable = type === PieceType.Normal || type === PieceType.Unused;
      (isMergeable ? this.mergeable : this.reserved).set(piece, id);
      if (type === PieceType.Unknown) unkId = id;
      const byte = type === PieceType.Byte ? BYTE_PIECE.exec(piece) : null;
      if (byte) {
        this.byteIds[parseInt(byte[1]!, 16)] = id;
        this.byteOfId.set(id, parseInt(byte[1]!, 16));
      }
    });
    if (unkId < 0) throw new Error('SentencePiece model has no unknown piece');
    this.unkId = unkId;
  }

  get pieces(): SentencePieceModel['pieces'] {
    return this.model.pieces;
  }

  encode(text: string): number[] {
    const symbols = this.mergePieces(this.normalize(text));
    const ids: number[] = [];
    let isPreviousUnknown = false;
    for (const symbol of symbols) {
      const id = this.reserved.get(symbol) ?? this.mergeable.get(symbol) ?? this.unkId;
      if (id !== this.unkId) {
        ids.push(id);
        isPreviousUnknown = false;
      } else if (this.model.byteFallback) {
        for (const byte of new TextEncoder().encode(symbol)) ids.push(this.byteIds[byte] ?? this.unkId);
      } else if (!isPreviousUnknown) {
        // NOTE: without byte fallback a run of unknown characters is one unknown token.
        ids.push(this.unkId);
        isPreviousUnknown = true;
      }
    }
    return ids;
  }

  /**
   * Text of pieces, with `literalOf` giving the text of ids outside the model (a wrapper's own
   * special tokens), which pass through as DecodePieces passes pieces it does not know.
   */
  decode(ids: readonly number[], literalOf: (id: number) => string | undefined = () => undefined): string {
    let text = '';
    let bytes: number[] = [];
    let isBosSpace = true;
    let hasSeenBosSpace = false;
    for (const id of ids) {
      const byte = this.byteOfId.get(id);
      if (byte !== undefined) {
        bytes.push(byte);
        continue;
      }
      if (bytes.length > 0) text += decodeBytes(bytes);
      bytes = [];
      // NOTE: only the first surface may lose its dummy-prefix space, and only before any text.
      if (hasSeenBosSpace || text.length > 0) isBosSpace = false;
      const [surface, consumedBosSpace] = this.surfaceOf(id, isBosSpace, literalOf);
      hasSeenBosSpace = consumedBosSpace;
      text += surface;
    }
    if (bytes.length > 0) text += decodeBytes(bytes);
    return text;
  }

  pieceToId(piece: string): number | undefined {
    return this.reserved.get(piece) ?? this.mergeable.get(piece);
  }

  isByte(id: number): boolean {
    return this.byteOfId.has(id);
  }

  private surfaceOf(id: number, isBosSpace: boolean, literalOf: (id: number) => string | undefined): [string, boolean] {
    const piece = this.model.pieces[id];
    if (piece === undefined) return [literalOf(id) ?? '', false];
    if (piece.type === PieceType.Control) return ['', false];
    if (piece.type === PieceType.Unknown) return [this.model.unkSurface, false];
    let text = piece.piece;
    let consumed = false;
    if (isBosSpace && (this.model.addDummyPrefix || this.model.removeExtraWhitespaces) && text.startsWith(SPACE_SYMBOL)) {
      text = text.slice(SPACE_SYMBOL.length);
      consumed = !this.model.removeExtraWhitespaces;
    }
    return [text.replaceAll(SPACE_SYMBOL, ' '), consumed];
  }

  private normalize(text: string): string {
    let normalized = this.model.removeExtraWhitespaces ? text.replace(/ +/g, ' ').trim() : text;
    if (normalized.length === 0) return '';
    if (this.model.addDummyPrefix) normalized = ` ${normalized}`;
    return this.model.escapeWhitespaces ? normalized.replaceAll(' ', SPACE_SYMBOL) : normalized;
  }

  /** The normalised text as the pieces BPE merges it into (each still a string). */
  private mergePieces(normalized: string): string[] {
    const pieces = Array.from(normalized);
    const next = pieces.map((_, index) => (index + 1 < pieces.length ? index + 1 : -1));
    const prev = pieces.map((_, index) => index - 1);
    const queue = new MergeQueue();
    const consider = (left: number, right: number): void => {
      if (left < 0 || right < 0) return;
      const merged = pieces[left]! + pieces[right]!;
      const id = this.mergeable.get(merged);
      if (id !== undefined) queue.push({ left, right, score: this.model.pieces[id]!.score, length: merged.length });
    };
    for (let index = 1; index < pieces.length; index++) consider(index - 1, index);
    while (!queue.isEmpty) {
      const { left, right, length } = queue.pop();
      const leftPiece = pieces[left]!;
      const rightPiece = pieces[right]!;
      // A pair one of whose sides has since been merged into something else is stale.
      if (leftPiece === '' || rightPiece === '' || leftPiece.length + rightPiece.length !== length) continue;
      pieces[left] = leftPiece + rightPiece;
      pieces[right] = '';
      next[left] = next[right]!;
      if (next[left]! >= 0) prev[next[left]!] = left;
      consider(prev[left]!, left);
      consider(left, next[left]!);
    }
    const merged: string[] = [];
    for (let index = pieces.length > 0 ? 0 : -1; index >= 0; index = next[index]!) merged.push(pieces[index]!);
    return merged;
  }
}
