/**
 * `broadcast emit --file <path | ->`: sends the events of an NDJSON file with `Broadcast.sendMany` (see
 * src/bulk/ and docs/bulk.md). The steps:
 *
 * 1. claim `--failed-out` (failed-out.ts): not the input, not another run's, not a list of events already;
 * 2. check every line (pass 1), hashing the input on the way (source.ts; standard input is spooled to a
 *    private unlinked file); one bad line and nothing is sent;
 * 3. open the journal of this input and server (journal.ts); with `--resume`, what an earlier run confirmed
 *    is skipped;
 * 4. send (pass 2: a small input was kept from pass 1, a large one is read again, checked against pass 1's
 *    hashes); every confirmed request goes to the journal as its answer arrives;
 * 5. on a stop (a signal, the server down) the failed output is written at once from the journal, in-flight
 *    events included and marked in the journal as maybe delivered; it is written again at the end if
 *    requests still in flight were confirmed meanwhile.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Broadcast } from '../../core/broadcast.js';
import type { BulkJournal, BulkProgress, BulkResult, StopReason, UnsentReasons } from '../../bulk/send.js';
import { checkNdjson, formatEventLine, maxLineBytes, parseEventLine, readNdjsonLines, type BulkEvent, type LineRules, type NdjsonCheck, type NdjsonLine } from '../../bulk/ndjson.js';
import { claimFailedOut, FailedOutClaimError, type FailedOutFile } from '../../bulk/failed-out.js';
import { Confirmations, Journal, journalDir, journalPath, LockedError, readJournal, type JournalIdentity } from '../../bulk/journal.js';
import { Digester, fileSource, InputChangedError, spoolSource, type InputDigest, type InputSource } from '../../bulk/source.js';
import { connectionUrl } from '../../config/schema.js';
import type { Outcome } from '../command.js';
import { openBroadcast, stoppedBy, type Context } from '../context.js';
import type { Io } from '../io.js';
import { DeliveryError, UsageError, ValidationError, type BroadcastError } from '../../core/errors.js';
import { refuseUnconfiguredInCi, type EmitOptions } from './emit.js';
import { DEFAULTS } from '../../config/defaults.js';

/** Inputs up to this size are kept in memory after the check, so they are not read and parsed twice. */
const RETAIN_BYTES = 8 * 1024 * 1024;

/** The options only `emit --file` takes, beside EmitOptions. */
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
  /** With --resume: events an earlier run confirmed (a real run would skip them). */
  alreadySent?: number;
}

/** What `emit --file` sent: the sender's account (see BulkResult), and what it was sent with. */
export interface BulkEmitResult extends Omit<BulkResult, 'stopped'> {
  dryRun: false;
  file: string;
  connection: string;
  driver: 'pusher' | 'log' | 'null';
  delivered: boolean;
  /** Events an earlier run confirmed, skipped by --resume (`alreadySent + sent + failed = events`). */
  alreadySent: number;
  resumed: boolean;
  checkMs: number;
  eventsPerSecond: number;
  concurrency: number;
  rate: number | null;
  failedOut: string | null;
  /** The journal this run kept (for --resume), or null (the log and null connections deliver nothing to resume). */
  journal: string | null;
  stopped: StopReason | 'input-changed' | null;
}

export async function runBulk(
  ctx: Context,
  target: string | undefined,
  event: string | undefined,
  options: EmitOptions,
): Promise<Outcome<BulkEmitResult | BulkDryRunResult>> {
  checkOptions(target, event, options);
  const file = options.file!;
  const broadcast = await openBroadcast(ctx, options);
  refuseUnconfiguredInCi(ctx, broadcast, options);
  const cleanups: (() => unknown)[] = [];
  try {
    const rules = broadcast.eventRules;
    const source = await openSource(ctx, file);
    cleanups.push(() => source.close());
    const shown = source.shown;
    // Claimed before the check: a run that could not write its failed output should not start at all.
    const failedOut = options.failedOut !== undefined && !options.dryRun ? claim(ctx, options.failedOut, source, Boolean(options.force || options.resume)) : undefined;
    if (failedOut) cleanups.push(() => failedOut.release());

    const checkStarted = performance.now();
    const delivers = broadcast.resolved.connection.driver === 'pusher';
    // The hash names the journal and checks later reads: not needed by a plain dry run.
    const digester = !options.dryRun || options.resume ? new Digester() : undefined;
    const check = await checkNdjson(readNdjsonLines(source.firstRead(digester, ctx.signal), { maxBytes: maxLineBytes(rules.maxPayloadKb) }), rules, {
      retainBytes: options.dryRun ? undefined : RETAIN_BYTES,
      signal: ctx.signal,
    });
    // Stopped while checking: nothing has been sent.
    if (check.aborted) throw stoppedBy(ctx)!;
    const checkMs = Math.round(performance.now() - checkStarted);
    if (check.errors.length > 0) throw invalidInput(shown, check);
    if (check.events === 0) ctx.io.warn(`${shown} has no events (no non-blank lines)`);
    const digest = digester?.digest();
    const about = { file: shown, connection: broadcast.connectionName, driver: broadcast.resolved.connection.driver, checkMs };
    const identity = digest && delivers ? journalIdentity(broadcast, digest, check, shown) : undefined;

    if (options.dryRun) {
      const alreadySent = options.resume && identity ? readJournal(journalPath(journalDir(ctx.env), identity), identity).confirmations.count : undefined;
      return {
        result: { dryRun: true, ...about, events: check.events, lines: check.lines, batchable: check.batchable, triggers: check.events - check.batchable, ...(alreadySent !== undefined ? { alreadySent } : {}) },
      };
    }

    const journal = identity ? openJournal(ctx, identity, Boolean(options.resume)) : undefined;
    if (journal) cleanups.push(() => journal.close());
    const confirmations = journal?.confirmations ?? new Confirmations(check.events, check.lines);
    const alreadySent = confirmations.count;
    noteEarlierRun(ctx, identity, journal, Boolean(options.resume));

    const progress = ctx.io.stderr.isTTY && !ctx.io.json ? progressLine(ctx.io, check.events - alreadySent) : undefined;
    const failedList = failedOut
      ? new FailedList(failedOut, confirmations, () => unconfirmedLines(readNdjsonLines(source.reread(digest!), { maxBytes: maxLineBytes(rules.maxPayloadKb) }), confirmations, rules))
      : undefined;
    const record: BulkJournal = {
      sent: (events, channels) => (journal ? journal.sent(events, channels) : confirmations.record(events, channels)),
      stopping(why, inFlight) {
        journal?.stopping(why, inFlight);
        // Written now, not after the requests in flight end (they may take up to --timeout).
        void failedList?.write();
        if (why === 'interrupted' && inFlight.length > 0 && !stop.stdoutClosed) {
          progress?.clear();
          ctx.io.note(`stopping: waiting for the requests in flight (${fmt(inFlight.length)} events, at most the --timeout); a second signal exits at once, and --resume sends what was not confirmed`);
        }
      },
    };
    const stop = stopSignal(ctx);
    cleanups.push(() => stop.release());

    // Set when pass 2 finds the input changed since the check: reading stops there.
    const changed: { error?: InputChangedError } = {};
    // The list an earlier run left (with --force or --resume) is out of date from the first request on.
    failedOut?.clear();
    const concurrency = options.concurrency ?? DEFAULTS.concurrency;
    let sent: BulkResult;
    try {
      // Pass 2: a small input was kept from pass 1; a large one is read again (memory stays flat).
      const retained = check.retained;
      check.retained = undefined;
      let input: AsyncIterable<(BulkEvent | NdjsonLine)[]> | Iterable<(BulkEvent | NdjsonLine)[]> = retained
        ? chunks(retained, 2048)
        : untilChanged(readNdjsonLines(source.reread(digest!), { maxBytes: maxLineBytes(rules.maxPayloadKb) }), changed);
      if (confirmations.any) input = remaining(input, confirmations, rules);
      sent = await broadcast.sendMany(input, { concurrency, rate: options.rate, journal: record, signal: stop.signal, onProgress: progress?.update });
    } finally {
      progress?.clear();
    }
    await failedList?.settle();
    const result = summarize(sent, changed.error, {
      about,
      total: check.events,
      alreadySent,
      resumed: Boolean(options.resume),
      delivers,
      concurrency,
      rate: options.rate,
      failedOut: options.failedOut,
      journal,
    });
    journal?.finish({ sent: result.sent, failed: result.failed, stopped: result.stopped, at: new Date().toISOString() });
    if (journal?.failure) ctx.io.warn(`the journal ${journal.file} could not be written (${journal.failure.message}): --resume cannot tell what this run sent`);
    if (failedList?.error !== undefined) {
      ctx.io.warn(`--failed-out ${options.failedOut} was not written: ${(failedList.error as Error).message}`);
      result.failedOut = null;
    }
    return { result, error: stop.stdoutClosed ? undefined : failure(ctx, result) };
  } finally {
    broadcast.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

/**
 * The --failed-out file kept true: written whole (from the input and the confirmations) when sending stops,
 * and at the end unless nothing was confirmed since. One write at a time.
 */
class FailedList {
  /** Why the last write failed, if it did. */
  error: unknown;
  private writing: Promise<void> = Promise.resolve();
  /** The confirmations' version the file was written at. */
  private writtenAt: number | undefined;

  constructor(
    private readonly file: FailedOutFile,
    private readonly confirmations: Confirmations,
    private readonly lines: () => AsyncIterable<string>,
  ) {}

  write(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const version = this.confirmations.version;
      try {
        await this.file.write(this.lines());
        this.writtenAt = version;
        this.error = undefined;
      } catch (error) {
        this.error = error;
      }
    });
    return this.writing;
  }

  /** The last write: unless the file already says what is left (requests in flight at a stop may have been confirmed since). */
  async settle(): Promise<void> {
    await this.writing;
    if (this.writtenAt === undefined || this.writtenAt !== this.confirmations.version || this.error !== undefined) await this.write();
  }
}

/**
 * What stops sending: the user's signal, or stdout's reader going away (`| head`: the run then ends quietly).
 * The handler stays on stdout after the run: the summary's own write to a closed stdout fails the same way.
 */
function stopSignal(ctx: Context): { signal: AbortSignal; readonly stdoutClosed: boolean; release(): void } {
  const stop = new AbortController();
  const onSignal = () => stop.abort(ctx.signal.reason);
  if (ctx.signal.aborted) onSignal();
  ctx.signal.addEventListener('abort', onSignal, { once: true });
  let stdoutClosed = false;
  ctx.io.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') return;
    stdoutClosed = true;
    stop.abort('EPIPE');
  });
  return {
    signal: stop.signal,
    get stdoutClosed() {
      return stdoutClosed;
    },
    release: () => ctx.signal.removeEventListener('abort', onSignal),
  };
}

/** The run's result: the sender's account, over the whole input (what --resume skipped, and what was never read). */
function summarize(
  sent: BulkResult,
  changed: InputChangedError | undefined,
  run: {
    about: Pick<BulkEmitResult, 'file' | 'connection' | 'driver' | 'checkMs'>;
    total: number;
    alreadySent: number;
    resumed: boolean;
    delivers: boolean;
    concurrency: number;
    rate: number | undefined;
    failedOut: string | undefined;
    journal: Journal | undefined;
  },
): BulkEmitResult {
  const unsent: UnsentReasons = { ...sent.unsent };
  let stopped: BulkEmitResult['stopped'] = sent.stopped ?? null;
  const errors = [...sent.errors];
  // Events never read: the input changed under pass 2 (reading stopped there).
  const unread = run.total - run.alreadySent - sent.events;
  if (changed && unread > 0) {
    unsent.notAttempted += unread;
    stopped ??= 'input-changed';
    errors.push({ message: changed.message, events: unread });
  }
  const durationMs = Math.round(sent.durationMs);
  return {
    dryRun: false,
    ...run.about,
    delivered: run.delivers && sent.sent > 0,
    events: run.total,
    alreadySent: run.alreadySent,
    resumed: run.resumed,
    sent: sent.sent,
    failed: unsent.failed + unsent.heldBack + unsent.notAttempted,
    unsent,
    maybeDelivered: sent.maybeDelivered,
    requests: sent.requests,
    batches: sent.batches,
    triggers: sent.triggers,
    durationMs,
    checkMs: run.about.checkMs,
    eventsPerSecond: sent.durationMs > 0 ? Math.round((sent.sent * 1000) / sent.durationMs) : 0,
    concurrency: run.concurrency,
    rate: run.rate ?? null,
    failedOut: run.failedOut ?? null,
    journal: run.journal && !run.journal.failure ? run.journal.file : null,
    stopped,
    errors,
  };
}

/** The line batches of pass 2 until the input turns out to have changed since the check (`changed.error` then says where). */
async function* untilChanged(lines: AsyncIterable<NdjsonLine[]>, changed: { error?: InputChangedError }): AsyncGenerator<NdjsonLine[]> {
  try {
    yield* lines;
  } catch (error) {
    if (!(error instanceof InputChangedError)) throw error;
    changed.error = error;
  }
}

/** The input: a file (its path resolved against the cwd), or standard input spooled. */
async function openSource(ctx: Context, file: string): Promise<InputSource> {
  if (file === '-') return spoolSource(ctx.stdin);
  try {
    return await fileSource(path.resolve(ctx.cwd, file), file, RETAIN_BYTES);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A --failed-out whose run was killed before writing it leaves only its lock behind.
    const unfinished = code === 'ENOENT' && existsSync(`${path.resolve(ctx.cwd, file)}.lock`);
    throw new UsageError(`Cannot read --file ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`, {
      hint: unfinished ? `The run writing ${file} as its --failed-out did not finish; run that command again with --resume to send what it did not` : undefined,
    });
  }
}

/** Claims the --failed-out file, with a usage error naming what stands in the way. */
function claim(ctx: Context, shown: string, source: InputSource, replace: boolean): FailedOutFile {
  try {
    return claimFailedOut(path.resolve(ctx.cwd, shown), source.identity, replace);
  } catch (error) {
    if (error instanceof FailedOutClaimError) {
      const problem = error.problem;
      if (problem.kind === 'input') throw new UsageError(`--failed-out ${shown} is the input file; writing it would destroy the input`);
      if (problem.kind === 'directory') throw new UsageError(`--failed-out ${shown} is a directory`);
      if (problem.kind === 'locked') {
        throw new UsageError(`--failed-out ${shown} is being written by another broadcast run${problem.pid ? ` (process ${problem.pid})` : ''}`, {
          hint: 'Give each run its own --failed-out file',
        });
      }
      throw new UsageError(`--failed-out ${shown} already holds ${fmt(problem.bytes)} bytes of events from an earlier run`, {
        hint: `Send them first (broadcast emit --file ${shown}), or add --force to replace the file`,
      });
    }
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`Cannot write --failed-out ${shown}: ${code === 'ENOENT' ? 'its folder does not exist' : (error as Error).message}`);
  }
}

function journalIdentity(broadcast: Broadcast, digest: InputDigest, check: NdjsonCheck, shown: string): JournalIdentity {
  const connection = broadcast.resolved.connection as Parameters<typeof connectionUrl>[0];
  return {
    input: digest.hash,
    events: check.events,
    lines: check.lines,
    connection: broadcast.connectionName,
    target: `${connectionUrl(connection)}/apps/${connection.appId}`,
    file: shown,
  };
}

/**
 * Opens (and locks) the journal. Another run sending the same input to the same server is refused; a
 * journal that cannot be written is only a warning, unless --resume needs it.
 */
function openJournal(ctx: Context, identity: JournalIdentity, resume: boolean): Journal | undefined {
  const dir = journalDir(ctx.env);
  try {
    return Journal.open(dir, identity, { resume });
  } catch (error) {
    if (error instanceof LockedError) {
      throw new UsageError(`Another broadcast run${error.pid ? ` (process ${error.pid})` : ''} is sending ${identity.file} to connection "${identity.connection}" right now`, {
        hint: 'Wait for it to finish; then --resume sends whatever it did not',
      });
    }
    const message = `cannot keep the journal in ${dir}: ${(error as Error).message}`;
    if (resume) throw new UsageError(`--resume ${message}`, { hint: 'Set XDG_STATE_HOME to a folder you can write' });
    ctx.io.warn(`${message}; this run cannot be resumed with --resume (set XDG_STATE_HOME to a folder you can write)`);
    return undefined;
  }
}

/** What an earlier run of this input to this server did: what --resume skips, or what a run without it sends again. */
function noteEarlierRun(ctx: Context, identity: JournalIdentity | undefined, journal: Journal | undefined, resume: boolean): void {
  if (!identity) return;
  const { file, events, connection } = identity;
  const earlier = journal?.earlier;
  const done = earlier?.confirmations.count ?? 0;
  if (!resume) {
    if (earlier?.found && !earlier.done && done > 0) {
      ctx.io.warn(`an earlier run of ${file} to connection "${connection}" stopped after ${fmt(done)} of ${fmt(events)} events; this run sends all of them again (add --resume to send only the rest)`);
    }
  } else if (!earlier?.found) {
    ctx.io.note(`resume: no earlier run of ${file} to this server was recorded, so none of it was sent: sending all ${fmt(events)} events`);
  } else if (earlier.done) {
    ctx.io.note(`resume: all ${fmt(events)} events of ${file} were sent by an earlier run; nothing to send`);
  } else {
    ctx.io.note(`resume: ${fmt(done)} of ${fmt(events)} events were sent by an earlier run; sending the other ${fmt(events - done)}`);
  }
}

/** The input without what is confirmed: confirmed lines skipped, a trigger confirmed in part narrowed to its other channels. */
async function* remaining(
  input: AsyncIterable<(BulkEvent | NdjsonLine)[]> | Iterable<(BulkEvent | NdjsonLine)[]>,
  confirmations: Confirmations,
  rules: LineRules,
): AsyncGenerator<(BulkEvent | NdjsonLine)[]> {
  for await (const batch of input) {
    const out: (BulkEvent | NdjsonLine)[] = [];
    for (const item of batch) {
      if (confirmations.has(item.line)) continue;
      const got = confirmations.channelsOf(item.line);
      if (!got) {
        out.push(item);
        continue;
      }
      const event = 'raw' in item ? item : parseEventLine(item.text, item.line, rules);
      const channels = event.channels.filter((c) => !got.has(c));
      if (channels.length > 0) out.push({ ...event, channels, raw: formatEventLine({ ...event, channels }) });
    }
    if (out.length > 0) yield out;
  }
}

/** The lines of the input not confirmed, in input order (a trigger confirmed in part: with its other channels only). */
async function* unconfirmedLines(lines: AsyncIterable<NdjsonLine[]>, confirmations: Confirmations, rules: LineRules): AsyncGenerator<string> {
  for await (const batch of lines) {
    for (const { line, text } of batch) {
      if (confirmations.has(line)) continue;
      const got = confirmations.channelsOf(line);
      if (!got) {
        yield text;
        continue;
      }
      const event = parseEventLine(text, line, rules);
      const channels = event.channels.filter((c) => !got.has(c));
      if (channels.length > 0) yield formatEventLine({ ...event, channels });
    }
  }
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

/** Why the rest was not attempted, for each way a run stops early. */
const STOPPED: Record<NonNullable<BulkEmitResult['stopped']>, string> = {
  'server-down': 'the server could not be reached (consecutive connection failures), so the rest was not attempted',
  unresponsive: 'the server stopped answering (many requests in a row got no answer), so the rest was not attempted',
  rejected: 'the server rejected the request (credentials or app), so the rest was not attempted',
  interrupted: 'interrupted, so the rest was not attempted',
  'input-changed': 'the input changed after it was checked, so the rest was not read',
};

/** Why a run did not succeed: stopped by a signal (exit 130/143/129), or events not sent (exit 1). */
function failure(ctx: Context, r: BulkEmitResult): BroadcastError | undefined {
  if (r.stopped === 'interrupted') {
    const stopped = stoppedBy(ctx);
    if (stopped) return stopped;
  }
  if (r.failed === 0) return undefined;
  const why = r.stopped ? STOPPED[r.stopped] : r.errors[0]?.message;
  const resume = `broadcast emit --file ${r.file === 'standard input' ? '-' : r.file} --resume`;
  return new DeliveryError(`${fmt(r.failed)} of ${fmt(r.events)} events were not sent${why ? `: ${why}` : ''}`, {
    code: r.sent + r.alreadySent > 0 ? 'partial_delivery' : 'delivery',
    hint: r.failedOut !== null
      ? `The events not sent are in ${r.failedOut}; send them with: broadcast emit --file ${r.failedOut} (or run the same command with --resume)`
      : r.journal !== null
        ? `Send the rest with the same command and --resume: ${resume}${r.file === 'standard input' ? ' (with the same input)' : ''}`
        : 'Add --failed-out failed.ndjson to keep the events that were not sent, and re-run that file',
  });
}

/** Shows a bulk result: the summary of what was sent on stdout, what was not and why on stderr. */
export function render(io: Io, r: BulkEmitResult | BulkDryRunResult): void {
  // stdout's reader went away (`| head`): end quietly.
  if (io.stdout.destroyed) return;
  const s = io.style;
  if (r.dryRun) {
    const resume = r.alreadySent !== undefined ? `; ${fmt(r.alreadySent)} were sent by an earlier run, so --resume would send ${fmt(r.events - r.alreadySent)}` : '';
    io.out(
      `${s.cyan('dry run:')} ${r.file} is valid: ${fmt(r.events)} events on ${fmt(r.lines)} lines ` +
        `(${fmt(r.batchable)} batchable, ${fmt(r.triggers)} single triggers), ` +
        `checked in ${(r.checkMs / 1000).toFixed(2)} s${resume}; nothing was sent (connection "${r.connection}")`,
    );
    return;
  }
  const verb = r.driver === 'pusher' ? 'sent' : r.driver === 'log' ? 'printed' : 'discarded';
  const took = `in ${(r.durationMs / 1000).toFixed(2)} s (${fmt(r.eventsPerSecond)} events/s, ${fmt(r.requests)} request${r.requests === 1 ? '' : 's'}, connection "${r.connection}")`;
  const earlier = r.alreadySent > 0 ? ` (${fmt(r.alreadySent)} more were sent by an earlier run)` : '';
  if (r.failed === 0) io.out(`${s.green('✓')} ${verb} ${fmt(r.sent)} events from ${r.file} ${took}${earlier}`);
  else io.out(`${s.red('✗')} ${verb} ${fmt(r.sent)} of ${fmt(r.events)} events from ${r.file} ${took}${earlier}; ${fmt(r.failed)} not sent`);
  const e = io.errStyle;
  const u = r.unsent;
  if (u.failed > 0) {
    const maybe = r.maybeDelivered > 0 ? ` (${fmt(r.maybeDelivered)} may have been delivered: their request got no answer, or failed after it was sent)` : '';
    io.note(`  ${fmt(u.failed)} failed${maybe}:`);
    for (const error of r.errors.slice(0, 5)) io.note(`    ${fmt(error.events)} event${error.events === 1 ? '' : 's'}: ${error.message}`);
  }
  if (u.heldBack > 0) io.note(`  ${fmt(u.heldBack)} held back: an earlier event on the same channel failed, and sending them would have broken the channel's order`);
  if (u.notAttempted > 0) io.note(`  ${fmt(u.notAttempted)} not attempted: ${r.stopped ? STOPPED[r.stopped] : 'sending stopped'}`);
  const hint = r.errors.find((error) => error.hint)?.hint;
  if (hint) io.note(`  ${e.dim('hint:')} ${hint}`);
  if (r.stopped === 'interrupted' && r.failed > 0) {
    io.note(
      r.failedOut !== null
        ? `  the events not sent were written to ${r.failedOut} (or run the same command with --resume)`
        : r.journal !== null
          ? `  ${e.dim('hint:')} run the same command with --resume to send the rest`
          : `  ${e.dim('hint:')} add --failed-out to keep the events not sent`,
    );
  }
  if (r.driver !== 'pusher') io.note(`note: connection "${r.connection}" ${r.driver === 'log' ? 'only prints' : 'discards'} events; nothing was delivered.`);
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

function checkOptions(target: string | undefined, event: string | undefined, options: EmitOptions): void {
  if (options.file === undefined) {
    const flag = options.failedOut !== undefined ? '--failed-out' : options.concurrency !== undefined ? '--concurrency' : options.resume ? '--resume' : options.force ? '--force' : '--rate';
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
  if (options.force && options.failedOut === undefined) throw new UsageError('--force only applies with --failed-out (it replaces an existing file)');
}

/** The progress line on a terminal's stderr: count, rate, failures and ETA, redrawn in place. */
function progressLine(io: Io, total: number) {
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
      io.progress(parts.join(' · '));
    },
    clear() {
      io.clearProgress();
    },
  };
}

/** 12345 → "12,345" (toLocaleString would load ICU data: ~12 ms on the first call). */
function fmt(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
