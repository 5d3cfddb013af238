/**
 * Streams record batches into Arrow IPC *stream* files (what datasets' ArrowWriter writes), starting
 * a new shard before one would pass `maxShardBytes`. Shards are written under temporary names and
 * renamed `data-0000i-of-0000n.arrow` by `finish`, when n is known; memory stays at about one batch.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { type RecordBatch, RecordBatchStreamWriter, type Schema } from 'apache-arrow';

import { ItlError } from '../errors.js';
import { dataShardName } from './datasetsLayout.js';

export interface WrittenShard {
  file: string;
  rows: number;
  bytes: number;
  sha256: string;
}

export class ShardedArrowWriter {
  private readonly shards: WrittenShard[] = [];
  private current: ShardFile | undefined;
  private lastBatchBytes = 0;

  constructor(
    private readonly dir: string,
    /** Every batch must carry this schema's fields (apache-arrow starts a new stream otherwise). */
    readonly schema: Schema,
    private readonly maxShardBytes: number,
  ) {}

  async write(batch: RecordBatch): Promise<void> {
    if (this.current && this.current.rows > 0 && this.current.bytes + this.lastBatchBytes > this.maxShardBytes) {
      await this.closeCurrent();
    }
    this.current ??= new ShardFile(join(this.dir, `shard-${this.shards.length}.arrow.partial`));
    const before = this.current.bytes;
    await this.current.write(batch);
    this.lastBatchBytes = this.current.bytes - before;
  }

  /** Closes the last shard and gives every shard its final name; returns them in order. */
  async finish(): Promise<WrittenShard[]> {
    await this.closeCurrent();
    if (this.shards.length === 0) throw new ItlError('ITL_INTERNAL', 'no record batch was written');
    return this.shards.map((shard, index) => {
      const file = dataShardName(index, this.shards.length);
      renameSync(join(this.dir, shard.file), join(this.dir, file));
      return { ...shard, file };
    });
  }

  private async closeCurrent(): Promise<void> {
    if (!this.current) return;
    const shard = this.current;
    this.current = undefined;
    const { bytes, sha256 } = await shard.close();
    this.shards.push({ file: `shard-${this.shards.length}.arrow.partial`, rows: shard.rows, bytes, sha256 });
  }
}

/** One stream file: apache-arrow's writer queues bytes; a loop drains them to disk, hashing as it goes. */
class ShardFile {
  rows = 0;
  bytes = 0;
  private readonly writer = new RecordBatchStreamWriter();
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  private readonly drained: Promise<void>;
  private failure: unknown;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
    this.drained = this.drain().catch((error: unknown) => {
      this.failure = error;
    });
  }

  async write(batch: RecordBatch): Promise<void> {
    this.writer.write(batch);
    this.rows += batch.numRows;
    // The drain loop runs on microtasks; one macrotask turn lets it empty the queue, so at most
    // one batch's bytes are ever held.
    await new Promise((resolve) => setImmediate(resolve));
    this.throwIfFailed();
  }

  async close(): Promise<{ bytes: number; sha256: string }> {
    this.writer.finish();
    await this.drained;
    closeSync(this.fd);
    this.throwIfFailed();
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  private async drain(): Promise<void> {
    for await (const chunk of this.writer) {
      for (let done = 0; done < chunk.byteLength; ) done += writeSync(this.fd, chunk, done);
      this.hash.update(chunk);
      this.bytes += chunk.byteLength;
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      throw new ItlError('ITL_IO', `cannot write Arrow shard: ${(this.failure as Error).message ?? String(this.failure)}`);
    }
  }
}
