/**
 * The input of `emit --file`, read more than once: the check (pass 1), the send (pass 2, for a large input)
 * and the failed output (written from the input and what was confirmed). Every later read is checked
 * against the first: pass 1 hashes the bytes in 1 MiB blocks, and a later read hands on a block only once it
 * hashes the same, so a file that changed in between is caught before any changed line is used.
 *
 * Standard input cannot be read twice: pass 1 copies it to a private spool file that is unlinked as soon as
 * it is created, so it disappears with the process however that ends (even `kill -9`).
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { mkdtemp, open, readFile, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Bytes hashed together: a later read holds back at most this much before handing it on. */
export const BLOCK_BYTES = 1 << 20;
/**
 * Each read of a large input, decoded at once into one string that its lines are cut from. Kept under V8's
 * largest ordinary heap object (128 KiB): bigger strings go to the large-object space and raise the peak memory
 * of a 1,000,000-line run by about 12 MB (256 KiB reads: 75-78 MB; 64 KiB: 63-66 MB, and no slower).
 */
const READ_CHUNK = 64 * 1024;

/** What pass 1 saw: its length, a hash per block, and one hash of it all (`hash`, hex). */
export interface InputDigest {
  bytes: number;
  blocks: Buffer[];
  hash: string;
}

/** Hashes a byte stream block by block. */
export class Digester {
  private readonly blocks: Buffer[] = [];
  private block = createHash('sha256');
  private inBlock = 0;
  private bytes = 0;

  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    for (let offset = 0; offset < chunk.length; ) {
      const take = Math.min(BLOCK_BYTES - this.inBlock, chunk.length - offset);
      this.block.update(chunk.subarray(offset, offset + take));
      this.inBlock += take;
      offset += take;
      if (this.inBlock === BLOCK_BYTES) {
        this.blocks.push(this.block.digest());
        this.block = createHash('sha256');
        this.inBlock = 0;
      }
    }
  }

  digest(): InputDigest {
    if (this.inBlock > 0 || this.blocks.length === 0) this.blocks.push(this.block.digest());
    const hash = createHash('sha256').update(`${this.bytes}\n`).update(Buffer.concat(this.blocks)).digest('hex');
    return { bytes: this.bytes, blocks: this.blocks, hash };
  }
}

/** A later read found other bytes than pass 1 did. */
export class InputChangedError extends Error {
  constructor(shown: string, readonly offset: number) {
    super(`${shown} changed after it was checked (its bytes differ from byte ${offset} on), so nothing from there on was used`);
  }
}

/** The bytes of `input`, a block at a time, each handed on only once it hashes as in `digest`; throws InputChangedError. */
export async function* verified(input: AsyncIterable<Buffer>, digest: InputDigest, shown: string): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let block = 0;
  let offset = 0;
  const same = (bytes: Buffer) => block < digest.blocks.length && createHash('sha256').update(bytes).digest().equals(digest.blocks[block]!);
  for await (const chunk of input) {
    pending.push(chunk);
    pendingBytes += chunk.length;
    while (pendingBytes >= BLOCK_BYTES) {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      const piece = all.subarray(0, BLOCK_BYTES);
      if (!same(piece)) throw new InputChangedError(shown, offset);
      yield piece;
      block++;
      offset += BLOCK_BYTES;
      const rest = all.subarray(BLOCK_BYTES);
      pending = rest.length > 0 ? [rest] : [];
      pendingBytes = rest.length;
    }
  }
  const last = Buffer.concat(pending);
  if (offset + last.length !== digest.bytes || (last.length > 0 && !same(last))) throw new InputChangedError(shown, offset);
  if (last.length > 0) yield last;
}

/** An input of `emit --file`: a file, or standard input spooled to a private file. */
export interface InputSource {
  /** The path as given, or "standard input". */
  readonly shown: string;
  /** The file's device and inode (not for standard input, whose spool no one else can name). */
  readonly identity?: Pick<Stats, 'dev' | 'ino'>;
  /** Small enough to be read in one piece (and kept in memory after the check). */
  readonly small: boolean;
  /** Pass 1: the bytes, once, hashed when `digester` is given; stops early when `signal` is aborted. */
  firstRead(digester: Digester | undefined, signal: AbortSignal): AsyncIterable<Buffer> | Iterable<Buffer>;
  /** A later read, checked against `digest` (InputChangedError when it differs). */
  reread(digest: InputDigest): AsyncIterable<Buffer>;
  close(): Promise<void>;
}

/** A file as an input; rejects with a message-ready error when it cannot be read. */
export async function fileSource(file: string, shown: string, smallBytes: number): Promise<InputSource> {
  const stats = await stat(file);
  if (stats.isDirectory()) throw Object.assign(new Error('it is a directory'), { code: 'EISDIR' });
  const small = stats.isFile() && stats.size <= smallBytes;
  return {
    shown,
    identity: { dev: stats.dev, ino: stats.ino },
    small,
    async *firstRead(digester) {
      // A small file is read in one piece (faster than a stream); a large one streams, in constant memory.
      const input = small ? [await readFile(file)] : createReadStream(file, { highWaterMark: READ_CHUNK });
      for await (const chunk of input as AsyncIterable<Buffer>) {
        digester?.update(chunk);
        yield chunk;
      }
    },
    reread: (digest) => verified(createReadStream(file, { highWaterMark: READ_CHUNK }), digest, shown),
    async close() {},
  };
}

/**
 * Standard input as an input: pass 1 copies it to a spool file (mode 0600) that is unlinked at once and read
 * back through its open handle. Where a file cannot be unlinked while open, it is removed on close instead.
 */
export async function spoolSource(stdin: NodeJS.ReadableStream): Promise<InputSource> {
  const dir = await mkdtemp(path.join(tmpdir(), 'broadcast-stdin-'));
  const file = path.join(dir, 'events.ndjson');
  let handle: FileHandle;
  try {
    handle = await open(file, 'wx+', 0o600);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let linked = true;
  try {
    await unlink(file);
    await rmdir(dir);
    linked = false;
  } catch {
    // Kept until close.
  }
  let written = 0;
  return {
    shown: 'standard input',
    small: false,
    async *firstRead(digester, signal) {
      for await (const piece of untilAborted(stdin as AsyncIterable<Buffer | string>, signal, () => (stdin as NodeJS.ReadableStream & { destroy?(): void }).destroy?.())) {
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        await handle.write(chunk, 0, chunk.length, written);
        written += chunk.length;
        digester?.update(chunk);
        yield chunk;
      }
    },
    reread: (digest) =>
      verified(createReadStream('', { fd: handle, start: 0, autoClose: false, highWaterMark: READ_CHUNK }) as AsyncIterable<Buffer>, digest, 'standard input'),
    async close() {
      await handle.close().catch(() => {});
      if (linked) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The chunks of `input` until it ends or `signal` is aborted (standard input may never end by itself); then
 * `release` lets go of the stream (a stream's iterator cannot be ended while a read is pending, and an open
 * standard input would keep the process alive).
 */
async function* untilAborted<T>(input: AsyncIterable<T>, signal: AbortSignal, release: () => void): AsyncGenerator<T> {
  if (signal.aborted) return;
  const iterator = input[Symbol.asyncIterator]();
  let onAbort: () => void = () => {};
  const aborted = new Promise<{ done: true; value: undefined }>((resolve) => {
    onAbort = () => resolve({ done: true, value: undefined });
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (signal.aborted) release();
  }
}
