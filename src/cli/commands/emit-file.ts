/**
 * `broadcast emit --file <path | ->`: sends the events of an NDJSON file with `Broadcast.sendMany` (see
 * src/bulk/ and "Bulk emit" in README.md). Two streaming passes over the input: the first checks every line
 * and sends nothing if one is bad; the second sends. Standard input cannot be read twice, so it is copied to
 * a private temporary file while the first pass reads it.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, readFile, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Broadcast } from '../../core/broadcast.js';
import type { BulkProgress, BulkResult } from '../../bulk/send.js';
import { checkNdjson, maxLineBytes, readNdjsonLines, type LineRules, type NdjsonCheck } from '../../bulk/ndjson.js';
import { closeStream, openFailedFile } from '../../bulk/failed-out.js';
import type { Outcome } from '../command.js';
import { openBroadcast, stoppedBy, type Context } from '../context.js';
import type { Io } from '../io.js';
import { DeliveryError, UsageError, ValidationError, type BroadcastError } from '../../core/errors.js';
import { refuseUnconfiguredInCi, type EmitOptions } from './emit.js';
import { DEFAULTS } from '../../config/defaults.js';

const READ_CHUNK = 256 * 1024;
/** Inputs up to this size are kept in memory after the check, so they are not read and parsed twice. */
const RETAIN_BYTES = 8 * 1024 * 1024;

/** What `emit --file --dry-run` found: the input is valid; nothing was sent. */
export interface BulkDryRunResult {
  dryRun: true;
  /** The path as given, or "standard input". */
  file: string;
  connection: string;
  driver: 'pusher' | 'log' | 'null';
  events: number;
  lines: number;
  batchable: number;
  triggers: number;
  checkMs: number;
}

/** What `emit --file` sent: the sender's account (see BulkResult), and what it was sent with. */
export interface BulkEmitResult extends Omit<BulkResult, 'stopped'> {
  dryRun: false;
  file: string;
  connection: string;
  driver: 'pusher' | 'log' | 'null';
  delivered: boolean;
  checkMs: number;
  eventsPerSecond: number;
  concurrency: number;
  rate: number | null;
  failedOut: string | null;
  stopped: NonNullable<BulkResult['stopped']> | null;
}

export async function runBulk(
  ctx: Context,
  target: string | undefined,
  event: string | undefined,
  options: EmitOptions,
): Promise<Outcome<BulkEmitResult | BulkDryRunResult>> {
  checkOptions(target, event, options);
  const file = options.file!;
  const shown = file === '-' ? 'standard input' : file;
  const broadcast = await openBroadcast(ctx, options);
  refuseUnconfiguredInCi(ctx, broadcast, options);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const rules = broadcast.eventRules;
    const checkStarted = performance.now();
    const { check, source } = await checkInput(ctx, file, rules, { retain: !options.dryRun, cleanups });
    // Stopped while checking: nothing has been sent.
    if (check.aborted) throw stoppedBy(ctx)!;
    const checkMs = Math.round(performance.now() - checkStarted);
    if (check.errors.length > 0) throw invalidInput(shown, check);
    if (check.events === 0) ctx.io.warn(`${shown} has no events (no non-blank lines)`);
    const about = { file: shown, connection: broadcast.connectionName, driver: broadcast.resolved.connection.driver, checkMs };
    if (options.dryRun) {
      return { result: { dryRun: true, ...about, events: check.events, lines: check.lines, batchable: check.batchable, triggers: check.events - check.batchable } };
    }

    // Where failed events go: opened (and truncated) only now that the input is known to be valid.
    const failed = options.failedOut === undefined ? undefined : await openFailedOut(ctx, options.failedOut, file === '-' ? undefined : source);
    const progress = ctx.io.stderr.isTTY && !ctx.io.json ? progressLine(ctx.io, check.events) : undefined;
    const concurrency = options.concurrency ?? DEFAULTS.concurrency;
    let sent: BulkResult;
    try {
      // Pass 2: a small input was kept from pass 1; a large one is read again (memory stays flat).
      const input = check.retained
        ? chunks(check.retained, 2048)
        : readNdjsonLines(createReadStream(source, { highWaterMark: READ_CHUNK }), { maxBytes: maxLineBytes(rules.maxPayloadKb) });
      check.retained = undefined;
      sent = await broadcast.sendMany(input, { concurrency, rate: options.rate, failed, signal: ctx.signal, onProgress: progress?.update });
    } finally {
      progress?.clear();
      await failed?.close();
    }
    const result: BulkEmitResult = {
      dryRun: false,
      ...about,
      delivered: about.driver === 'pusher' && sent.sent > 0,
      ...sent,
      durationMs: Math.round(sent.durationMs),
      eventsPerSecond: sent.durationMs > 0 ? Math.round((sent.sent * 1000) / sent.durationMs) : 0,
      concurrency,
      rate: options.rate ?? null,
      failedOut: options.failedOut ?? null,
      stopped: sent.stopped ?? null,
    };
    return { result, error: failure(ctx, result) };
  } finally {
    broadcast.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

/** Pass 1: checks every line (copying standard input to a temporary file on the way), until a signal. */
async function checkInput(
  ctx: Context,
  file: string,
  rules: LineRules,
  { retain, cleanups }: { retain: boolean; cleanups: (() => Promise<void>)[] },
): Promise<{ check: NdjsonCheck; source: string }> {
  const maxBytes = maxLineBytes(rules.maxPayloadKb);
  const checking = { retainBytes: retain ? RETAIN_BYTES : undefined, signal: ctx.signal };
  if (file === '-') {
    const dir = await mkdtemp(path.join(tmpdir(), 'broadcast-stdin-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const source = path.join(dir, 'events.ndjson');
    const spool = createWriteStream(source, { mode: 0o600 });
    await once(spool, 'open');
    try {
      const check = await checkNdjson(readNdjsonLines(copyTo(ctx.stdin, spool), { maxBytes }), rules, checking);
      return { check, source };
    } finally {
      await closeStream(spool);
    }
  }
  const source = path.resolve(ctx.cwd, file);
  const size = await assertReadable(source, file);
  // A small file is read in one piece (faster than a stream); a large one streams, in constant memory.
  const input = size <= RETAIN_BYTES ? [await readFile(source)] : createReadStream(source, { highWaterMark: READ_CHUNK });
  const check = await checkNdjson(readNdjsonLines(input, { maxBytes }), rules, checking);
  return { check, source };
}

function invalidInput(shown: string, check: NdjsonCheck): ValidationError {
  const count = check.moreErrors ? `More than ${check.errors.length}` : String(check.errors.length);
  const first = check.errors[0]!;
  const formatProblem = check.errors.some((e) => /^(invalid JSON|expected a JSON object|unknown field|missing|give )/.test(e.problem));
  return new ValidationError(
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

const STOPPED: Record<NonNullable<BulkResult['stopped']>, string> = {
  'server-down': 'the server stopped answering (consecutive connection failures), so the rest was not attempted',
  rejected: 'the server rejected the request (credentials or app), so the rest was not attempted',
  interrupted: 'interrupted, so the rest was not attempted',
};

/** Why a run did not succeed: stopped by a signal (exit 130/143/129), or events not sent (exit 1). */
function failure(ctx: Context, r: BulkEmitResult): BroadcastError | undefined {
  if (r.stopped === 'interrupted') {
    const stopped = stoppedBy(ctx);
    if (stopped) return stopped;
  }
  if (r.failed === 0) return undefined;
  const why = r.stopped ? STOPPED[r.stopped] : r.errors[0]?.message;
  return new DeliveryError(`${fmt(r.failed)} of ${fmt(r.events)} events were not sent${why ? `: ${why}` : ''}`, {
    code: r.sent > 0 ? 'partial_delivery' : 'delivery',
    hint: r.failedOut !== null
      ? `The events not sent were written to ${r.failedOut}; send them with: broadcast emit --file ${r.failedOut}`
      : 'Add --failed-out failed.ndjson to keep the events that were not sent, and re-run that file',
  });
}

/** Shows a bulk result: the summary of what was sent on stdout, the reasons for failures on stderr. */
export function render(io: Io, r: BulkEmitResult | BulkDryRunResult): void {
  const s = io.style;
  if (r.dryRun) {
    io.out(
      `${s.cyan('dry run:')} ${r.file} is valid: ${fmt(r.events)} events on ${fmt(r.lines)} lines ` +
        `(${fmt(r.batchable)} batchable, ${fmt(r.triggers)} single triggers), ` +
        `checked in ${(r.checkMs / 1000).toFixed(2)} s; nothing was sent (connection "${r.connection}")`,
    );
    return;
  }
  const verb = r.driver === 'pusher' ? 'sent' : r.driver === 'log' ? 'printed' : 'discarded';
  const took = `in ${(r.durationMs / 1000).toFixed(2)} s (${fmt(r.eventsPerSecond)} events/s, ${fmt(r.requests)} request${r.requests === 1 ? '' : 's'}, connection "${r.connection}")`;
  if (r.failed === 0) io.out(`${s.green('✓')} ${verb} ${fmt(r.sent)} events from ${r.file} ${took}`);
  else io.out(`${s.red('✗')} ${verb} ${fmt(r.sent)} of ${fmt(r.events)} events from ${r.file} ${took}; ${fmt(r.failed)} not sent`);
  const e = io.errStyle;
  for (const error of r.errors.slice(0, 5)) io.note(`  ${fmt(error.events)} event${error.events === 1 ? '' : 's'}: ${error.message}`);
  const hint = r.errors.find((error) => error.hint)?.hint;
  if (hint) io.note(`  ${e.dim('hint:')} ${hint}`);
  if (r.stopped === 'interrupted' && r.failed > 0) {
    io.note(r.failedOut !== null ? `  the events not sent were written to ${r.failedOut}` : `  ${e.dim('hint:')} add --failed-out to keep the events not sent`);
  }
  if (r.driver !== 'pusher') io.note(`note: connection "${r.connection}" ${r.driver === 'log' ? 'only prints' : 'discards'} events; nothing was delivered.`);
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

/** Opens the --failed-out file, refusing the input file itself (`input` undefined for standard input). */
async function openFailedOut(ctx: Context, shown: string, input: string | undefined) {
  const file = path.resolve(ctx.cwd, shown);
  if (input !== undefined && (await sameFile(file, input))) {
    throw new UsageError(`--failed-out ${shown} is the input file; writing it would destroy the input`);
  }
  try {
    return await openFailedFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`Cannot write --failed-out ${shown}: ${code === 'ENOENT' ? 'its folder does not exist' : (error as Error).message}`);
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

/** The progress line on a terminal's stderr: count, rate, failures and ETA, redrawn in place. */
function progressLine(io: Io, total: number) {
  const stderr = io.stderr;
  let shown = false;
  return {
    update(p: BulkProgress) {
      const done = p.sent + p.failed;
      const rate = p.elapsedMs > 0 ? (done * 1000) / p.elapsedMs : 0;
      const eta = rate > 0 ? Math.max(0, (total - done) / rate) : undefined;
      const parts = [
        `${fmt(done)}/${fmt(total)} events`,
        `${fmt(Math.round(rate))}/s`,
        ...(p.failed > 0 ? [io.errStyle.red(`${fmt(p.failed)} failed`)] : []),
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
