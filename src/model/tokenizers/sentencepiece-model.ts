/**
 * Reads a SentencePiece `tokenizer.model` (the `ModelProto` protobuf of sentencepiece_model.proto):
 * the pieces with their scores and types, and the trainer and normalizer settings that
 * encoding and decoding depend on. Only the fields swiftlet uses are decoded; the rest are skipped.
 */

export enum PieceType {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
}

export enum ModelType {
  Unigram = 1,
  Bpe = 2,
  Word = 3,
  Char = 4,
}

export interface Piece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface SentencePieceModel {
  pieces: Piece[];
  modelType: ModelType;
  byteFallback: boolean;
  treatWhitespaceAsSuffix: boolean;
  unkSurface: string;
  normalizerName: string;
  /** A precompiled normalisation table (nmt_nfkc and friends); empty for `identity`. */
  hasCharsMap: boolean;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** A cursor over protobuf wire format; each `fields()` step yields one field's number and value. */
class ProtoReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength);
  }

  *fields(): Generator<{ field: number; varint: number; bytes: Uint8Array; fixed32: number }> {
    while (this.offset < this.bytes.length) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      const value: { field: number; varint: number; bytes: Uint8Array; fixed32: number } = { field, varint: 0, bytes: new Uint8Array(0), fixed32: 0 };
      if (wire === WIRE_VARINT) value.varint = this.varint();
      else if (wire === WIRE_BYTES) value.bytes = this.take(this.varint());
      else if (wire === WIRE_FIXED32) {
        value.fixed32 = this.view.getFloat32(this.offset, true);
        this.take(4);
      }
      else if (wire === WIRE_FIXED64) this.take(8);
      else throw new Error(`unsupported protobuf wire type ${wire} at byte ${this.offset}`);
      yield value;
    }
  }

  /** NOTE: int32 fields such as pad_id = -1 arrive as 10-byte varints; the low 32 bits are kept, signed. */
  private varint(): number {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.offset >= this.bytes.length) throw new Error('truncated protobuf varint');
      const byte = this.bytes[this.offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
      shift += 7n;
    }
    return result > 0xffffffffn ? Number(BigInt.asIntN(32, result)) : Number(result);
  }

  private take(length: number): Uint8Array {
    if (this.offset + length > this.bytes.length) throw new Error('truncated protobuf field');
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }
}

const utf8 = new TextDecoder('utf-8');

function readPiece(bytes: Uint8Array): Piece {
  const piece: Piece = { piece: '', score: 0, type: PieceType.Normal };
  for (const { field, varint, bytes: value, fixed32 } of new ProtoReader(bytes).fields()) {
    if (field === 1) piece.piece = utf8.decode(value);
    else if (field === 2) piece.score = fixed32;
    else if (field === 3) piece.type = varint as PieceType;
  }
  return piece;
}

export function readSentencePieceModel(bytes: Uint8Array): SentencePieceModel {
  const model: SentencePieceModel = {
    pieces: [],
    modelType: ModelType.Unigram,
    byteFallback: false,
    treatWhitespaceAsSuffix: false,
    unkSurface: ' \u2047 ',
    normalizerName: '',
    hasCharsMap: false,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  for (const { field, bytes: value } of new ProtoReader(bytes).fields()) {
    if (field === 1) model.pieces.push(readPiece(value));
    else if (field === 2) readTrainerSpec(value, model);
    else if (field === 3) readNormalizerSpec(value, model);
  }
  return model;
}

function readTrainerSpec(bytes: Uint8Array, model: SentencePieceModel): void {
  for (const { field, varint, bytes: value } of new ProtoReader(bytes).fields()) {
    if (field === 3) model.modelType = varint as ModelType;
    else if (field === 24) model.treatWhitespaceAsSuffix = varint !== 0;
    else if (field === 35) model.byteFallback = varint !== 0;
    else if (field === 44) model.unkSurface = utf8.decode(value);
  }
}

function readNormalizerSpec(bytes: Uint8Array, model: SentencePieceModel): void {
  for (const { field, varint, bytes: value } of new ProtoReader(bytes).fields()) {
    if (field === 1) model.normalizerName = utf8.decode(value);
    else if (field === 2) model.hasCharsMap = value.length > 0;
    else if (field === 3) model.addDummyPrefix = varint !== 0;
    else if (field === 4) model.removeExtraWhitespaces = varint !== 0;
    else if (field === 5) model.escapeWhitespaces = varint !== 0;
  }
}
