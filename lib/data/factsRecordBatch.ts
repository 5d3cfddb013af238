/**
 * Facts rows as one Arrow record batch of the datasets schema, and back. The batch is assembled
 * from offsets and UTF-8 buffers with apache-arrow's makeData rather than its generic builders,
 * which encode string by string and were half of the build time.
 */
import { type Data, type Field, type List, makeData, RecordBatch, type Schema, Struct, type StructRowProxy, Utf8 } from 'apache-arrow';

import type { Attribute, ChatMessage, FactRow } from './facts.js';

export function factsRecordBatch(schema: Schema, rows: readonly FactRow[]): RecordBatch {
  const children = schema.fields.map((field) => {
    const name = field.name as keyof FactRow;
    if (name === 'qa' || name === 'qatool')
      return dialogueData(
        field as Field<List<Struct>>,
        rows.map((row) => row[name]),
      );
    return utf8Data(rows.map((row) => row[name] as string));
  });
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children }));
}

function utf8Data(values: readonly string[]): Data<Utf8> {
  const valueOffsets = new Int32Array(values.length + 1);
  let bytes = 0;
  for (let i = 0; i < values.length; i++) {
    bytes += Buffer.byteLength(values[i]!, 'utf8');
    valueOffsets[i + 1] = bytes;
  }
  if (bytes > 0x7fffffff) throw new RangeError(`${bytes} bytes of strings exceed one Arrow utf8 column's 2 GiB`);
  const data = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < values.length; i++) data.write(values[i]!, valueOffsets[i]!, 'utf8');
  return makeData({ type: new Utf8(), length: values.length, nullCount: 0, valueOffsets, data });
}

function dialogueData(field: Field<List<Struct>>, dialogues: readonly ChatMessage[][]): Data<List<Struct>> {
  const valueOffsets = new Int32Array(dialogues.length + 1);
  const messages: ChatMessage[] = [];
  dialogues.forEach((dialogue, i) => {
    messages.push(...dialogue);
    valueOffsets[i + 1] = messages.length;
  });
  const messageType = field.type.children[0]!.type;
  const children = messageType.children.map((f) => utf8Data(messages.map((m) => m[f.name as keyof ChatMessage])));
  const child = makeData({ type: messageType, length: messages.length, nullCount: 0, children });
  return makeData({ type: field.type, length: dialogues.length, nullCount: 0, valueOffsets, child });
}

/** Row `index` of a batch as plain objects (apache-arrow hands out lazy proxies). */
export function factRowAt(batch: RecordBatch, index: number): FactRow {
  const dialogue = (name: string): ChatMessage[] => {
    const list = batch.getChild(name)!.get(index) as { toArray(): StructRowProxy[] };
    return Array.from(list.toArray(), (m) => ({ content: m.content as string, role: m.role as ChatMessage['role'] }));
  };
  return {
    qa: dialogue('qa'),
    qatool: dialogue('qatool'),
    name: batch.getChild('name')!.get(index) as string,
    attribute: batch.getChild('attribute')!.get(index) as Attribute,
    value: batch.getChild('value')!.get(index) as string,
  };
}
