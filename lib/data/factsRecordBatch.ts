/** Facts rows as one Arrow record batch of the datasets schema, and back. */
import { makeData, RecordBatch, type Schema, Struct, type StructRowProxy, vectorFromArray } from 'apache-arrow';

import { type Attribute, type ChatMessage, type FactRow } from './facts.js';

export function factsRecordBatch(schema: Schema, rows: readonly FactRow[]): RecordBatch {
  const column = (name: keyof FactRow) => {
    const field = schema.fields.find((f) => f.name === name)!;
    return vectorFromArray(rows.map((row) => row[name]) as never, field.type).data[0]!;
  };
  const children = schema.fields.map((field) => column(field.name as keyof FactRow));
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children }));
}

/** Row `index` of a batch as plain objects (apache-arrow hands out lazy proxies). */
export function factRowAt(batch: RecordBatch, index: number): FactRow {
  const dialogue = (name: string): ChatMessage[] => {
    const list = batch.getChild(name)!.get(index) as { toArray(): StructRowProxy[] };
    return Array.from(list.toArray(), (m) => ({ content: m['content'] as string, role: m['role'] as ChatMessage['role'] }));
  };
  return {
    qa: dialogue('qa'),
    qatool: dialogue('qatool'),
    name: batch.getChild('name')!.get(index) as string,
    attribute: batch.getChild('attribute')!.get(index) as Attribute,
    value: batch.getChild('value')!.get(index) as string,
  };
}
