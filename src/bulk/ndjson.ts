/**
 * NDJSON input for bulk sending (what `broadcast emit --file` reads): a streaming line reader with line
 * numbers, per-line parsing and validation against Pusher's limits, the whole-input check that runs before
 * anything is sent, and the writer of the same format (for `--failed-out`).
 */
import { isUtf8 } from 'node:buffer';
import { channelType } from '../core/channels.js';
import { ValidationError } from '../core/errors.js';
import { LIMITS, channelNameProblem, encryptedPayloadBytes, serializePayload, validateEventName, validateSocketId } from '../core/validation.js';

/** One line of input: its 1-based number and its text (without the line break). */
export interface NdjsonLine {
  line: number;
  text: string;
}

/** A validated event from one line. */
export interface BulkEvent {
  line: number;
  /** Full channel names, de-duplicated, in the order given. */
  channels: string[];
  event: string;
  data: unknown;
  socketId?: string;
  /** The line as read: written to the failed output unchanged. */
  raw: string;
}

/** What a line is checked against. */
export interface LineRules {
  /** Largest serialized payload, in KB (the connection's `maxPayloadKb`, default 10). */
  maxPayloadKb?: number;
  /**
   * Encrypted channels are refused with this reason (e.g. the connection has no master key); undefined
   * allows them.
   */
  encryptedProblem?: string;
  /** Longest channel and event names (the server profile's; Pusher's by default). */
  channelNameLength?: number;
  eventNameLength?: number;
}

const FIELDS = new Set(['channel', 'channels', 'event', 'name', 'data', 'socket_id']);
const EXAMPLE = '{"channel":"orders","event":"order.shipped","data":{"id":1}}';

/** Bytes of one line beyond which it is refused without being parsed (keeps memory bounded). */
export function maxLineBytes(maxPayloadKb: number = LIMITS.defaultMaxPayloadKb): number {
  return Math.max(1 << 20, Math.ceil(maxPayloadKb * 1024 * 8));
}

/** A line the reader cannot hand on (too long to hold, not UTF-8); the reader throws it and stops. */
export class LineReadError extends ValidationError {
  constructor(readonly line: number, readonly problem: string) {
    super(`line ${line}: ${problem}`);
  }
}

/** A line too long to hold. */
export class LineTooLongError extends LineReadError {
  constructor(line: number, limit: number) {
    super(line, `longer than ${limit} bytes (is it really NDJSON, one event per line?)`);
  }
}

/** A line that is not valid UTF-8 (decoding it would silently replace bytes with U+FFFD). */
export class InvalidUtf8Error extends LineReadError {
  constructor(line: number) {
    super(line, 'not valid UTF-8 (save the file as UTF-8)');
  }
}

/**
 * Splits a byte stream into lines, with their numbers, yielding the lines of each chunk together (fewer
 * awaits than one per line). Blank lines are skipped but counted; `\r\n` endings and a leading BOM are
 * accepted; bytes that are not UTF-8 are refused (InvalidUtf8Error, naming the line). Memory stays bounded
 * by the chunk size plus one line (at most `maxBytes`).
 */
export async function* readNdjsonLines(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  options: { maxBytes?: number } = {},
): AsyncGenerator<NdjsonLine[]> {
  const maxBytes = options.maxBytes ?? maxLineBytes();
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let lineNo = 0;
  const add = (lines: NdjsonLine[], text: string) => {
    lineNo++;
    if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: only a long line needs counting.
    if (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes) throw new LineTooLongError(lineNo, maxBytes);
    if (!isBlank(text)) lines.push({ line: lineNo, text });
  };
  for await (const piece of input) {
    const buffer = typeof piece === 'string' ? Buffer.from(piece) : piece;
    const last = buffer.lastIndexOf(10);
    if (last !== -1) {
      const lines: NdjsonLine[] = [];
      let from = 0;
      if (carryBytes > 0) {
        // The end of a line that began in an earlier chunk.
        from = buffer.indexOf(10) + 1;
        carry.push(buffer.subarray(0, from - 1));
        add(lines, decode(Buffer.concat(carry), lineNo + 1));
        carry = [];
        carryBytes = 0;
      }
      if (from <= last) {
        // The rest, up to the chunk's last line break, is decoded at once (a line break never splits a
        // character) and then split: much faster than decoding each line on its own.
        if (!isUtf8(buffer.subarray(from, last))) throw new InvalidUtf8Error(lineNo + 1 + firstInvalidLine(buffer.subarray(from, last)));
        const text = buffer.toString('utf8', from, last);
        let start = 0;
        for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
          add(lines, text.slice(start, end));
          start = end + 1;
        }
        add(lines, text.slice(start));
      }
      if (lines.length > 0) yield lines;
    }
    if (last + 1 < buffer.length) {
      carryBytes += buffer.length - last - 1;
      if (carryBytes > maxBytes) throw new LineTooLongError(lineNo + 1, maxBytes);
      // Copy: the stream may reuse its buffer.
      carry.push(Buffer.from(buffer.subarray(last + 1)));
    }
  }
  if (carryBytes > 0) {
    const lines: NdjsonLine[] = [];
    add(lines, decode(Buffer.concat(carry), lineNo + 1));
    if (lines.length > 0) yield lines;
  }
}

/** One line's bytes as text; throws InvalidUtf8Error (for line `line`) when they are not UTF-8. */
function decode(bytes: Buffer, line: number): string {
  if (!isUtf8(bytes)) throw new InvalidUtf8Error(line);
  return bytes.toString('utf8');
}

/** How many line breaks come before the first line of `bytes` that is not UTF-8 (only called when one is not). */
function firstInvalidLine(bytes: Buffer): number {
  let breaks = 0;
  for (let start = 0; ; breaks++) {
    const end = bytes.indexOf(10, start);
    if (!isUtf8(bytes.subarray(start, end === -1 ? bytes.length : end)) || end === -1) return breaks;
    start = end + 1;
  }
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 11 && c !== 12) return false;
  }
  return true;
}

/** An invalid line: `line N: problem` (control characters quoted from the line are escaped). */
export class LineError extends ValidationError {
  readonly problem: string;
  constructor(readonly line: number, problem: string) {
    const shown = escapeControls(problem);
    super(`line ${line}: ${shown}`);
    this.problem = shown;
  }
}

/**
 * Characters that would act on a terminal instead of being shown (C0 and C1 controls, DEL, line and paragraph
 * separators, bidirectional overrides; an `ESC]0;` would retitle the window and swallow what follows)
 * written as `\u001b`: a problem can quote the line (JSON.parse's messages do).
 */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A number written with an exponent (`1e20`). Re-serialised, it is the only part of a JSON text that can come
 * out longer than it went in (`1e20` → 21 digits, `1e300` → `1e+300`): whitespace goes, escapes get shorter
 * or stay (`\u00e9` → 2 bytes), and a number without an exponent keeps at most its digits. So a line without
 * one serialises to at most its own bytes (the same holds for string data, sent unquoted and unescaped).
 */
const EXPONENT = /[0-9][eE]/;

/**
 * Whether a line's payload cannot be over `limit` bytes once serialised, judged from the line alone: its bytes
 * are at most 3 per UTF-16 unit, and it grows only by its exponent numbers, each at least 3 characters and a
 * separator long and at most 26 once serialised. So a line of `n` units serialises to at most `9n + 6` bytes
 * whatever it holds, and to at most `3n` without an exponent. Anything else is serialised and measured.
 */
function surelyFits(text: string, limit: number): boolean {
  if (text.length * 9 + 6 <= limit) return true;
  return text.length * 3 <= limit && !EXPONENT.test(text);
}

/**
 * Parses and validates one NDJSON line: `{"channel": "a"}` or `{"channels": [...]}`, `"event"` (or `"name"`),
 * optional `"data"` (any JSON; default `{}`) and `"socket_id"`. Throws a LineError naming the problem.
 */
export function parseEventLine(text: string, line: number, rules: LineRules = {}): BulkEvent {
  const fail = (problem: string): never => {
    throw new LineError(line, problem);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    fail(`invalid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`expected a JSON object like ${EXAMPLE}`);
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (!FIELDS.has(key)) fail(`unknown field ${JSON.stringify(key)} (allowed: channel or channels, event or name, data, socket_id)`);
  }
  let channels: string[];
  if (record.channel !== undefined) {
    if (record.channels !== undefined) fail('give "channel" or "channels", not both');
    channels = [record.channel as string];
  } else if (record.channels !== undefined) {
    if (!Array.isArray(record.channels) || record.channels.length === 0) fail('"channels" must be a non-empty array of channel names');
    channels = record.channels as string[];
  } else {
    return fail(`missing "channel" (or "channels"), e.g. ${EXAMPLE}`);
  }
  // Encrypted channels receive the encrypted form of the data (about 4/3 of it): measured below.
  let encrypted = false;
  for (const name of channels) {
    const problem = channelNameProblem(name, rules.channelNameLength);
    if (problem) fail(`invalid channel name ${JSON.stringify(name)}: ${problem}`);
    if (channelType(name) === 'encrypted') {
      if (rules.encryptedProblem) fail(`channel "${name}" is encrypted, but ${rules.encryptedProblem}`);
      encrypted = true;
    }
  }
  if (channels.length > 1) channels = [...new Set(channels)];
  if (record.event !== undefined && record.name !== undefined) fail('give "event" or "name", not both');
  const event = record.event ?? record.name;
  if (event === undefined) fail('missing "event" (the event name)');
  try {
    validateEventName(event, rules.eventNameLength);
  } catch (error) {
    fail(lowerFirst((error as Error).message));
  }
  const data = record.data === undefined ? {} : record.data;
  const limit = (rules.maxPayloadKb ?? LIMITS.defaultMaxPayloadKb) * 1024;
  // The payload is measured as it will be sent, unless the line itself proves it small enough (surelyFits):
  // that skips the serialising for the common line, which pass 2 would repeat. Encrypted: always measured.
  if (encrypted || !surelyFits(text, limit)) {
    let bytes: number;
    try {
      bytes = Buffer.byteLength(serializePayload(data));
    } catch (error) {
      return fail(lowerFirst((error as Error).message));
    }
    const sent = encrypted ? encryptedPayloadBytes(bytes) : bytes;
    if (sent > limit) {
      fail(
        encrypted
          ? `the data is ${bytes} bytes, ${sent} once encrypted for a private-encrypted- channel; the limit for this connection is ${limit} bytes (${limit / 1024} KB)`
          : `the data is ${bytes} bytes; the limit for this connection is ${limit} bytes (${limit / 1024} KB)`,
      );
    }
  }
  let socketId: string | undefined;
  if (record.socket_id !== undefined) {
    try {
      socketId = validateSocketId(record.socket_id);
    } catch (error) {
      fail(lowerFirst((error as Error).message));
    }
  }
  return { line, channels, event: event as string, data, ...(socketId ? { socketId } : {}), raw: text };
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** An event as a line of input (what the failed output holds when only some of its channels failed). */
export function formatEventLine(event: Pick<BulkEvent, 'channels' | 'event' | 'data' | 'socketId'>): string {
  return JSON.stringify({
    ...(event.channels.length === 1 ? { channel: event.channels[0] } : { channels: event.channels }),
    event: event.event,
    data: event.data,
    ...(event.socketId ? { socket_id: event.socketId } : {}),
  });
}

/** What a validation pass found. */
export interface NdjsonCheck {
  /** Valid events. */
  events: number;
  /** Lines read, blank ones included. */
  lines: number;
  /** Events that go out as a batch entry (one channel, not encrypted); the others are single triggers. */
  batchable: number;
  /** The first invalid lines (at most `maxErrors`), in order. */
  errors: { line: number; problem: string }[];
  /** True when more lines were invalid than listed. */
  moreErrors: boolean;
  /** The parsed events, when asked for with `retainBytes` and the input was small enough. */
  retained?: BulkEvent[];
  /** True when `signal` stopped the check before the end of the input. */
  aborted?: boolean;
}

/**
 * Validates every line of an NDJSON stream: the first pass of `emit --file`. Stops reading after
 * `maxErrors` invalid lines, or when `signal` is aborted (`aborted` then says so). Keeps nothing, unless
 * `retainBytes` is given: then the parsed events are kept (`retained`) while their lines total at most that
 * many bytes, so a small input need not be read twice.
 */
export async function checkNdjson(
  lines: AsyncIterable<NdjsonLine[]>,
  rules: LineRules = {},
  options: { maxErrors?: number; retainBytes?: number; signal?: AbortSignal } = {},
): Promise<NdjsonCheck> {
  const maxErrors = options.maxErrors ?? 10;
  const result: NdjsonCheck = { events: 0, lines: 0, batchable: 0, errors: [], moreErrors: false };
  let retained: BulkEvent[] | undefined = options.retainBytes ? [] : undefined;
  let retainedBytes = 0;
  try {
    for await (const batch of lines) {
      if (options.signal?.aborted) {
        result.aborted = true;
        return result;
      }
      for (const { line, text } of batch) {
        result.lines = line;
        try {
          const event = parseEventLine(text, line, rules);
          result.events++;
          if (isBatchable(event)) result.batchable++;
          if (retained) {
            retainedBytes += text.length;
            if (retainedBytes > options.retainBytes!) retained = undefined;
            else retained.push(event);
          }
        } catch (error) {
          if (!(error instanceof LineError)) throw error;
          if (result.errors.length >= maxErrors) {
            result.moreErrors = true;
            return result;
          }
          result.errors.push({ line: error.line, problem: error.problem });
        }
      }
    }
  } catch (error) {
    if (!(error instanceof LineReadError)) throw error;
    result.errors.push({ line: error.line, problem: error.problem });
  }
  // An input that ended because the signal stopped its reading (standard input) was not checked to its end.
  if (options.signal?.aborted) result.aborted = true;
  if (retained && result.errors.length === 0) result.retained = retained;
  return result;
}

/** One channel, not encrypted: can be an entry of a batch request. */
export function isBatchable(event: Pick<BulkEvent, 'channels'>): boolean {
  // The test of channelType(…) === 'encrypted', inlined: this runs several times for every event sent.
  return event.channels.length === 1 && !event.channels[0]!.startsWith('private-encrypted-');
}
