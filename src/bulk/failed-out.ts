/**
 * The failed output of bulk sending (`emit --file … --failed-out`): a file that receives every event not
 * confirmed sent, one NDJSON line each, in an order that keeps each channel's order, so it can be sent again.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';

/** Where events that were not confirmed sent go (e.g. the `--failed-out` file). */
export interface FailedSink {
  /** One line of input format, without the line break. Called in an order that keeps each channel's order. */
  write(line: string): void;
  /** Resolves when the sink can take more (backpressure); optional. */
  ready?(): Promise<void>;
}

/** Opens (and truncates) `file` as a FailedSink; rejects with the file system's error when it cannot. */
export async function openFailedFile(file: string): Promise<FailedSink & { close(): Promise<void> }> {
  const stream = createWriteStream(file, { flags: 'w' });
  await once(stream, 'open');
  let failure: Error | undefined;
  stream.on('error', (error) => (failure = error));
  return {
    write(line) {
      stream.write(`${line}\n`);
    },
    async ready() {
      if (failure) throw failure;
      // Checked now, not remembered from write(): the buffer may have drained in between.
      if (stream.writableNeedDrain) await once(stream, 'drain');
    },
    async close() {
      await closeStream(stream);
      if (failure) throw failure;
    },
  };
}

/** Ends a write stream and waits until its file is closed. */
export async function closeStream(stream: WriteStream): Promise<void> {
  if (stream.closed) return;
  stream.end();
  await once(stream, 'close');
}
