/**
 * `broadcast emit --file <path | ->`: sends the events of an NDJSON file (see src/bulk.ts and
 * "Bulk emit" in README.md). Two streaming passes over the input: the first validates every line and sends
 * nothing if one is bad; the second sends. Standard input cannot be read twice, so it is copied to a
 * private temporary file while the first pass reads it.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, readFile, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Broadcast } from '../../core/broadcast.js';
import { sendBulk, type BulkProgress, type BulkResult, type FailedSink } from '../../bulk/send.js';
import { checkNdjson, maxLineBytes, readNdjsonLines, type LineRules } from '../../bulk/ndjson.js';
import { openBroadcast, type Context } from '../context.js';
import type { Driver } from '../../transport/types.js';
import { ExitCode, UsageError, ValidationError } from '../../core/errors.js';
import { LIMITS } from '../../core/validation.js';
import type { EmitOptions } from './emit.js';
import { DEFAULTS } from '../../config/defaults.js';

/** Default requests in flight. */
export const DEFAULT_CONCURRENCY = DEFAULTS.concurrency;
const READ_CHUNK = 256 * 1024;
/** Inputs up to this size are kept in memory after the check, so they are not read and parsed twice. */
const RETAIN_BYTES = 8 * 1024 * 1024;

export default async function emitFile(ctx: Context, target: string | undefined, event: string | undefined, options: EmitOptions): Promise<number> {
  const { io } = ctx;
  checkOptions(target, event, options);
  const file = options.file!;
  const broadcast = await openBroadcast(ctx, options);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const connection = broadcast.resolved.connection;
    const rules: LineRules = {
      maxPayloadKb: connection.maxPayloadKb ?? LIMITS.defaultMaxPayloadKb,
      encryptedProblem:
        connection.driver === 'pusher' && !connection.encryptionMasterKeyBase64
          ? `connection "${broadcast.connectionName}" has no encryptionMasterKeyBase64 (set PUSHER_ENCRYPTION_MASTER_KEY_BASE64)`
          : undefined,
    };
    const maxBytes = maxLineBytes(rules.maxPayloadKb);
    const shown = file === '-' ? 'standard input' : file;

    // Pass 1: validate everything (spooling standard input to a temporary file on the way).
    const checkStarted = performance.now();
    let source: string;
    let check;
    if (file === '-') {
      const dir = await mkdtemp(path.join(tmpdir(), 'broadcast-stdin-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      source = path.join(dir, 'events.ndjson');
      const spool = createWriteStream(source, { mode: 0o600 });
      await once(spool, 'open');
      check = await checkNdjson(readNdjsonLines(copyTo(ctx.stdin, spool), { maxBytes }), rules, { retainBytes: options.dryRun ? undefined : RETAIN_BYTES });
      await closeStream(spool);
    } else {
      source = path.resolve(ctx.cwd, file);
      const size = await assertReadable(source, file);
      // A small file is read in one piece (faster than a stream); a large one streams, in constant memory.
      const input = size <= RETAIN_BYTES ? [await readFile(source)] : createReadStream(source, { highWaterMark: READ_CHUNK });
      check = await checkNdjson(readNdjsonLines(input, { maxBytes }), rules, {
        retainBytes: options.dryRun ? undefined : RETAIN_BYTES,
      });
    }
    const checkMs = performance.now() - checkStarted;
    if (check.errors.length > 0) {
      const count = check.moreErrors ? `More than ${check.errors.length}` : String(check.errors.length);
      const first = check.errors[0]!;
      const formatProblem = check.errors.some((e) => /^(invalid JSON|expected a JSON object|unknown field|missing|give )/.test(e.problem));
      throw new ValidationError(
        check.errors.length === 1 && !check.moreErrors
          ? `Nothing was sent: ${shown}, line ${first.line}: ${first.problem}`
          : `Nothing was sent: ${count} invalid lines in ${shown}\n${check.errors.map((e) => `  line ${e.line}: ${e.problem}`).join('\n')}`,
        {
          hint: formatProblem
            ? 'Each line is one JSON object: {"channel":"orders","event":"order.shipped","data":{...}} ("channels":[...] for several; optional "socket_id")'
            : undefined,
          details: { errors: check.errors, moreErrors: check.moreErrors },
        },
      );
    }

    if (check.events === 0) io.warn(`${shown} has no events (no non-blank lines)`);
    if (options.dryRun) {
      reportDryRun(ctx, broadcast, shown, check, checkMs);
      return ExitCode.ok;
    }

    // Where failed events go: opened (and truncated) only now that the input is known to be valid.
    let failed: (FailedSink & { close(): Promise<void> }) | undefined;
    if (options.failedOut !== undefined) {
      const out = path.resolve(ctx.cwd, options.failedOut);
      if (file !== '-' && (await sameFile(out, source))) {
        throw new UsageError(`--failed-out ${options.failedOut} is the input file; writing it would destroy the input`);
      }
      failed = await openFailedOut(out, options.failedOut);
    }

    // Ctrl-C / SIGTERM: stop starting requests, write what was not sent, exit 130 / 143.
    const controller = new AbortController();
    let signalled: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      signalled ??= signal;
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    cleanups.push(async () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });

    const progress = io.stderr.isTTY && !io.json ? progressLine(ctx, check.events) : undefined;
    let result: BulkResult;
    try {
      // Pass 2: a small input was kept from pass 1; a large one is read again (memory stays flat).
      const input = check.retained
        ? chunks(check.retained, 2048)
        : readNdjsonLines(createReadStream(source, { highWaterMark: READ_CHUNK }), { maxBytes });
      check.retained = undefined;
      result = await sendBulk(printingDriver(ctx, broadcast), input, {
        concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
        rate: options.rate,
        rules,
        failed,
        signal: controller.signal,
        onProgress: progress?.update,
      });
    } finally {
      progress?.clear();
      await failed?.close();
    }
    report(ctx, broadcast, shown, result, { checkMs, concurrency: options.concurrency ?? DEFAULT_CONCURRENCY, rate: options.rate, failedOut: options.failedOut });
    if (signalled) return signalled === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated;
    return result.failed > 0 ? ExitCode.failed : ExitCode.ok;
  } finally {
    broadcast.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

function checkOptions(target: string | undefined, event: string | undefined, options: EmitOptions): void {
  if (options.file === undefined) {
    const flag = options.failedOut !== undefined ? '--failed-out' : options.concurrency !== undefined ? '--concurrency' : '--rate';
    throw new UsageError(`${flag} only applies with --file`, { hint: 'broadcast emit --file events.ndjson ' + flag + ' …' });
  }
  if (target !== undefined || event !== undefined) {
    throw new UsageError('--file takes the channels and events from the file; do not also give <target> or <event>', {
      hint: 'Each line names its channel: {"channel":"orders","event":"order.shipped","data":{...}}',
    });
  }
  if (options.socketId !== undefined) {
    throw new UsageError('--socket-id does not apply with --file; give "socket_id" on the lines that need it');
  }
  if (options.data !== undefined && options.data !== '{}') {
    throw new UsageError('--data does not apply with --file; each line carries its own "data"');
  }
  if (options.file === '') throw new UsageError('--file needs a path, or - for standard input');
}

/** The file's size; a UsageError when it cannot be read. */
async function assertReadable(file: string, shown: string): Promise<number> {
  try {
    const s = await stat(file);
    if (s.isDirectory()) throw new UsageError(`Cannot read --file ${shown}: it is a directory`);
    return s.isFile() ? s.size : Infinity;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`Cannot read --file ${shown}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

async function sameFile(a: string, b: string): Promise<boolean> {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    return (await realpath(a)) === (await realpath(b));
  } catch {
    return false;
  }
}

/** Copies every chunk to `out` (respecting backpressure) while passing it on. */
async function* copyTo(input: AsyncIterable<Buffer | string> | NodeJS.ReadableStream, out: WriteStream): AsyncGenerator<Buffer> {
  let failure: Error | undefined;
  out.on('error', (error) => (failure = error));
  for await (const piece of input as AsyncIterable<Buffer | string>) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    if (failure) throw failure;
    if (!out.write(chunk)) await once(out, 'drain');
    yield chunk;
  }
  if (failure) throw failure;
}

async function closeStream(stream: WriteStream): Promise<void> {
  if (stream.closed) return;
  stream.end();
  await once(stream, 'close');
}

async function openFailedOut(file: string, shown: string): Promise<FailedSink & { close(): Promise<void> }> {
  const stream = createWriteStream(file, { flags: 'w' });
  try {
    await once(stream, 'open');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`Cannot write --failed-out ${shown}: ${code === 'ENOENT' ? 'its folder does not exist' : (error as Error).message}`);
  }
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

/** The log driver prints each event as it is "sent" (not in JSON mode, where only the summary is printed). */
function printingDriver(ctx: Context, broadcast: Broadcast): Driver {
  const driver = broadcast.driver;
  if (driver.driver !== 'log' || ctx.io.json) return driver;
  const print = (event: string, channels: string[], data: unknown) => ctx.io.out(`${event} → ${channels.join(', ')} ${JSON.stringify(data)}`);
  return {
    ...driver,
    async trigger(request) {
      print(request.event, request.channels, request.data);
    },
    async triggerBatch(events) {
      for (const e of events) print(e.event, [e.channel], e.data);
    },
  };
}

function progressLine(ctx: Context, total: number) {
  const stderr = ctx.io.stderr;
  let shown = false;
  return {
    update(p: BulkProgress) {
      const done = p.sent + p.failed;
      const rate = p.elapsedMs > 0 ? (done * 1000) / p.elapsedMs : 0;
      const eta = rate > 0 ? Math.max(0, (total - done) / rate) : undefined;
      const parts = [
        `${fmt(done)}/${fmt(total)} events`,
        `${fmt(Math.round(rate))}/s`,
        ...(p.failed > 0 ? [ctx.io.style.red(`${fmt(p.failed)} failed`)] : []),
        `ETA ${eta === undefined ? '?' : `${Math.ceil(eta)} s`}`,
      ];
      stderr.write(`\r\x1b[K${parts.join(' · ')}`);
      shown = true;
    },
    clear() {
      if (shown) stderr.write('\r\x1b[K');
    },
  };
}

/** 12345 → "12,345" (toLocaleString would load ICU data: ~12 ms on the first call). */
function fmt(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function reportDryRun(ctx: Context, broadcast: Broadcast, shown: string, check: Awaited<ReturnType<typeof checkNdjson>>, checkMs: number): void {
  const { io } = ctx;
  if (io.json) {
    io.writeJson({
      ok: true,
      dryRun: true,
      file: shown,
      connection: broadcast.connectionName,
      driver: broadcast.resolved.connection.driver,
      events: check.events,
      lines: check.lines,
      batchable: check.batchable,
      triggers: check.events - check.batchable,
      checkMs: Math.round(checkMs),
    });
    return;
  }
  const s = io.style;
  io.out(
    `${s.cyan('dry run:')} ${shown} is valid: ${fmt(check.events)} events on ${fmt(check.lines)} lines ` +
      `(${fmt(check.batchable)} batchable, ${fmt(check.events - check.batchable)} single triggers), ` +
      `checked in ${(checkMs / 1000).toFixed(2)} s; nothing was sent (connection "${broadcast.connectionName}")`,
  );
}

const STOPPED: Record<NonNullable<BulkResult['stopped']>, string> = {
  'server-down': 'the server stopped answering (consecutive connection failures), so the rest was not attempted',
  rejected: 'the server rejected the request (credentials or app), so the rest was not attempted',
  interrupted: 'interrupted, so the rest was not attempted',
};

function report(
  ctx: Context,
  broadcast: Broadcast,
  shown: string,
  r: BulkResult,
  extra: { checkMs: number; concurrency: number; rate?: number; failedOut?: string },
): void {
  const { io } = ctx;
  const driver = broadcast.resolved.connection.driver;
  const perSecond = r.durationMs > 0 ? Math.round((r.sent * 1000) / r.durationMs) : 0;
  if (io.json) {
    io.writeJson({
      ok: r.failed === 0,
      dryRun: false,
      file: shown,
      connection: broadcast.connectionName,
      driver,
      delivered: driver === 'pusher' && r.sent > 0,
      events: r.events,
      sent: r.sent,
      failed: r.failed,
      requests: r.requests,
      batches: r.batches,
      triggers: r.triggers,
      durationMs: Math.round(r.durationMs),
      checkMs: Math.round(extra.checkMs),
      eventsPerSecond: perSecond,
      concurrency: extra.concurrency,
      rate: extra.rate ?? null,
      failedOut: extra.failedOut ?? null,
      stopped: r.stopped ?? null,
      errors: r.errors,
    });
  }
  const s = io.style;
  const seconds = `${(r.durationMs / 1000).toFixed(2)} s`;
  const requests = `${fmt(r.requests)} request${r.requests === 1 ? '' : 's'}`;
  if (r.failed === 0) {
    const verb = driver === 'pusher' ? 'sent' : driver === 'log' ? 'printed' : 'discarded';
    io.note(
      `${s.green('✓')} ${verb} ${fmt(r.sent)} events from ${shown} in ${seconds} (${fmt(perSecond)} events/s, ${requests}, connection "${broadcast.connectionName}")`,
    );
    if (driver !== 'pusher') io.note(`note: connection "${broadcast.connectionName}" ${driver === 'log' ? 'only prints' : 'discards'} events; nothing was delivered.`);
    return;
  }
  io.err(
    `${s.red('error:')} ${fmt(r.failed)} of ${fmt(r.events)} events were not sent; ${fmt(r.sent)} sent in ${seconds} (${fmt(perSecond)} events/s, ${requests})`,
  );
  if (r.stopped) io.err(`  ${STOPPED[r.stopped]}`);
  for (const e of r.errors.slice(0, 5)) io.err(`  ${fmt(e.events)} event${e.events === 1 ? '' : 's'}: ${e.message}`);
  const hint = r.errors.find((e) => e.hint)?.hint;
  if (hint) io.err(`  ${s.dim('hint:')} ${hint}`);
  if (extra.failedOut !== undefined) {
    io.err(`  failed events were written to ${extra.failedOut}; send them with: broadcast emit --file ${extra.failedOut}`);
  } else {
    io.err(`  ${s.dim('hint:')} add --failed-out failed.ndjson to keep the events that were not sent, and re-run that file`);
  }
}
