/**
 * The bulk sender's pieces: the NDJSON reader, line validation, the channel scheduler and the sender
 * (against a fake driver whose requests finish in random order).
 */
import { describe, expect, it } from 'vitest';
import { sendBulk, type BulkJournal } from '../../src/bulk/send.js';
import { RateLimiter } from '../../src/bulk/rate.js';
import { ChannelScheduler, type Job } from '../../src/bulk/scheduler.js';
import { checkNdjson, formatEventLine, parseEventLine, readNdjsonLines, type BulkEvent, type NdjsonLine } from '../../src/bulk/ndjson.js';
import { DeliveryError } from '../../src/core/errors.js';
import { Broadcast } from '../../src/core/broadcast.js';
import type { BatchEvent, Driver, TriggerRequest } from '../../src/transport/types.js';

async function collect(chunks: (string | Buffer)[], maxBytes?: number): Promise<NdjsonLine[]> {
  const out: NdjsonLine[] = [];
  for await (const batch of readNdjsonLines(chunks, { maxBytes })) out.push(...batch);
  return out;
}

async function* linesOf(texts: string[]): AsyncGenerator<NdjsonLine[]> {
  // Several small batches, as a file read in chunks would give.
  for (let i = 0; i < texts.length; i += 7) yield texts.slice(i, i + 7).map((text, j) => ({ line: i + j + 1, text }));
}

describe('readNdjsonLines', () => {
  it('numbers lines across chunk boundaries, skipping blank ones, accepting CRLF, a BOM and no final newline', async () => {
    const lines = await collect(['\uFEFF{"a":1}\r\n\n  \n{"b"', ':2}\n{"c":', '3}\n', '{"é":"ü"}']);
    expect(lines).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 4, text: '{"b":2}' },
      { line: 5, text: '{"c":3}' },
      { line: 6, text: '{"é":"ü"}' },
    ]);
  });

  it('keeps multi-byte characters split between chunks intact', async () => {
    const bytes = Buffer.from('{"x":"€€€"}\n');
    const lines = await collect([bytes.subarray(0, 7), bytes.subarray(7, 9), bytes.subarray(9)]);
    expect(lines).toEqual([{ line: 1, text: '{"x":"€€€"}' }]);
  });

  it('refuses bytes that are not UTF-8, naming the line, instead of replacing them with U+FFFD', async () => {
    const bad = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"\xff\xfe"}
    await expect(collect([Buffer.concat([Buffer.from('{"a":1}\n\n'), bad, Buffer.from('\n{"b":2}\n')])])).rejects.toThrow(/^line 3: not valid UTF-8/);
    // A line carried over from one chunk to the next, and a last line without a line break.
    await expect(collect([Buffer.from('{"a":1}\n{"x":"'), Buffer.from([0xc3]), Buffer.from('"}\n')])).rejects.toThrow(/^line 2: not valid UTF-8/);
    await expect(collect([Buffer.from('{"a":1}\n'), bad])).rejects.toThrow(/^line 2: not valid UTF-8/);
    // checkNdjson lists it as an invalid line.
    const check = await checkNdjson(readNdjsonLines([Buffer.concat([Buffer.from('{"channel":"a","event":"e"}\n'), bad, Buffer.from('\n')])]));
    expect(check.errors).toEqual([{ line: 2, problem: 'not valid UTF-8 (save the file as UTF-8)' }]);
  });

  it('refuses a line longer than the limit, naming it', async () => {
    await expect(collect(['{"a":1}\n', 'x'.repeat(50), 'y'.repeat(60), '\n'], 100)).rejects.toThrow(/line 2: longer than 100 bytes/);
    await expect(collect(['{"a":1}\n', 'x'.repeat(150)], 100)).rejects.toThrow(/line 2: longer than 100 bytes/);
    // Within one chunk (a small file is read in one piece), counted in bytes: 40 × "€" is 120 bytes.
    await expect(collect([`{"a":1}\n${'x'.repeat(150)}\n{"b":2}\n`], 100)).rejects.toThrow(/line 2: longer than 100 bytes/);
    await expect(collect([`{"a":1}\n\n${'€'.repeat(40)}\n`], 100)).rejects.toThrow(/line 3: longer than 100 bytes/);
    expect(await collect([`${'€'.repeat(33)}\n`], 100)).toEqual([{ line: 1, text: '€'.repeat(33) }]);
  });
});

describe('parseEventLine', () => {
  it('accepts channel or channels, event or name, optional data and socket_id', () => {
    expect(parseEventLine('{"channel":"orders","event":"shipped","data":{"id":1}}', 3)).toEqual({
      line: 3,
      channels: ['orders'],
      event: 'shipped',
      data: { id: 1 },
      raw: '{"channel":"orders","event":"shipped","data":{"id":1}}',
    });
    const multi = parseEventLine('{"channels":["a","private-b","a"],"name":"e","socket_id":"123.456"}', 1);
    expect(multi).toMatchObject({ channels: ['a', 'private-b'], event: 'e', data: {}, socketId: '123.456' });
    expect(parseEventLine('{"channel":"a","event":"e","data":"plain text"}', 1).data).toBe('plain text');
  });

  it.each([
    ['truncated JSON', '{"channel":"a","event":', /^line 7: invalid JSON/],
    ['an array', '["a","e"]', /expected a JSON object/],
    ['an unknown field', '{"channel":"a","event":"e","extra":1}', /unknown field "extra"/],
    ['no channel', '{"event":"e"}', /missing "channel"/],
    ['channel and channels', '{"channel":"a","channels":["b"],"event":"e"}', /"channel" or "channels", not both/],
    ['empty channels', '{"channels":[],"event":"e"}', /non-empty array/],
    ['a bad channel name', '{"channel":"a b","event":"e"}', /invalid channel name "a b"/],
    ['no event', '{"channel":"a"}', /missing "event"/],
    ['event and name', '{"channel":"a","event":"e","name":"f"}', /"event" or "name", not both/],
    ['a reserved event name', '{"channel":"a","event":"pusher:x"}', /reserved/],
    ['a bad socket id', '{"channel":"a","event":"e","socket_id":"abc"}', /invalid socket id "abc"/],
    ['data over the limit', `{"channel":"a","event":"e","data":"${'x'.repeat(11_000)}"}`, /the data is 11000 bytes; the limit for this connection is 10240 bytes/],
  ])('%s is refused', (_label, text, problem) => {
    expect(() => parseEventLine(text, 7)).toThrow(problem);
  });

  it('escapes control characters the problem quotes from the line (they would act on the terminal)', () => {
    let problem = '';
    try {
      parseEventLine('\u001b]0;pwned\u0007 rest of the line', 4);
    } catch (error) {
      problem = (error as Error).message;
    }
    expect(problem).toMatch(/^line 4: invalid JSON/);
    expect(problem).toContain('\\u001b]0;pwned\\u0007');
    expect(problem).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('measures the payload as it will be sent: numbers that grow when re-serialised count at their sent size', () => {
    // 670 × "1e20" is a 3,380-character line (under a third of the limit); sent, each number is 21 digits.
    const text = `{"channel":"a","event":"e","data":[${Array(670).fill('1e20').join(',')}]}`;
    expect(text.length * 3).toBeLessThan(10240);
    const sentBytes = JSON.stringify(Array(670).fill(1e20)).length;
    expect(sentBytes).toBe(14741);
    expect(() => parseEventLine(text, 1)).toThrow(`line 1: the data is ${sentBytes} bytes; the limit for this connection is 10240 bytes`);
  });

  it('accepts exactly the lines whose sent payload fits (random lines near the limit)', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const atoms = ['1e20', '1E21', '-0', '0.0000001', '123456789012345678901234', '"\\u00e9"', '"\\ud83d\\ude00"', '"é"', '"\\n"', 'true', '  null ', '1.50'];
    for (let n = 0; n < 300; n++) {
      const count = 200 + Math.floor(random() * 900);
      const items = Array.from({ length: count }, () => atoms[Math.floor(random() * atoms.length)]);
      const text = `{"channel":"a","event":"e","data":[${items.join(',')}]}`;
      const data = JSON.parse(text).data;
      const fits = Buffer.byteLength(JSON.stringify(data)) <= 2048;
      const accepted = (() => {
        try {
          parseEventLine(text, 1, { maxPayloadKb: 2 });
          return true;
        } catch {
          return false;
        }
      })();
      expect(accepted, text).toBe(fits);
    }
  });

  it('refuses encrypted channels when the connection cannot encrypt, and honours maxPayloadKb', () => {
    expect(() => parseEventLine('{"channel":"private-encrypted-x","event":"e"}', 2, { encryptedProblem: 'no master key' })).toThrow(
      'line 2: channel "private-encrypted-x" is encrypted, but no master key',
    );
    const big = `{"channel":"a","event":"e","data":"${'x'.repeat(20_000)}"}`;
    expect(parseEventLine(big, 1, { maxPayloadKb: 100 }).event).toBe('e');
  });

  it('formatEventLine writes a line that parses back to the same event', () => {
    const event = parseEventLine('{"channels":["a","b"],"name":"e","data":[1,2],"socket_id":"1.2"}', 1);
    const again = parseEventLine(formatEventLine(event), 1);
    expect(again).toMatchObject({ channels: ['a', 'b'], event: 'e', data: [1, 2], socketId: '1.2' });
  });
});

describe('checkNdjson', () => {
  it('counts events and lists the first invalid lines with their numbers', async () => {
    const check = await checkNdjson(
      readNdjsonLines(['{"channel":"a","event":"e"}\n', '\n{"channel":"a b","event":"e"}\n{"channels":["a","b"],"event":"e"}\n{oops\n']),
    );
    expect(check).toMatchObject({ events: 2, lines: 5, batchable: 1, moreErrors: false });
    expect(check.errors.map((e) => e.line)).toEqual([3, 5]);
  });

  it('stops after maxErrors', async () => {
    const check = await checkNdjson(readNdjsonLines(['x\n'.repeat(50)]), {}, { maxErrors: 3 });
    expect(check.errors).toHaveLength(3);
    expect(check.moreErrors).toBe(true);
  });
});

const ev = (line: number, ...channels: string[]): BulkEvent => ({ line, channels, event: 'e', data: {}, raw: `#${line}` });

describe('ChannelScheduler', () => {
  it('fills a batch from one channel first, and never hands out two jobs with the same channel', () => {
    const s = new ChannelScheduler();
    for (let i = 1; i <= 30; i++) s.push(ev(i, `c${i % 2}`));
    const a = s.next()!;
    const b = s.next()!;
    expect(a.kind).toBe('batch');
    expect(a.events.map((e) => e.line)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
    expect(b.events.map((e) => e.line)).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    expect(s.next()).toBeUndefined(); // both channels busy
    s.done(a);
    expect(s.next()!.events.map((e) => e.line)).toEqual([21, 23, 25, 27, 29]);
  });

  it('tops a batch up from other channels', () => {
    const s = new ChannelScheduler();
    for (let i = 1; i <= 12; i++) s.push(ev(i, `c${i}`));
    const job = s.next()!;
    expect(job.events).toHaveLength(10);
    expect(job.channels).toHaveLength(10);
    expect(s.next()!.events.map((e) => e.line)).toEqual([11, 12]);
  });

  it('a multi-channel event waits for the earlier events of all its channels, and holds back later ones', () => {
    const s = new ChannelScheduler();
    s.push(ev(1, 'a'));
    s.push(ev(2, 'a', 'b'));
    s.push(ev(3, 'b'));
    s.push(ev(4, 'c'));
    const first = s.next()!;
    expect(first.events.map((e) => e.line)).toEqual([1, 4]); // b's head is the trigger, so it tops up with c
    expect(s.next()).toBeUndefined();
    s.done(first);
    const trigger = s.next()!;
    expect(trigger).toMatchObject({ kind: 'trigger', channels: ['a', 'b'] });
    expect(s.next()).toBeUndefined();
    s.done(trigger);
    expect(s.next()!.events.map((e) => e.line)).toEqual([3]);
  });

  it('hands out the events of a poisoned channel as failed, in order', () => {
    const s = new ChannelScheduler(2);
    for (let i = 1; i <= 5; i++) s.push(ev(i, 'a'));
    const job = s.next()!;
    s.poison(job.channels);
    s.done(job);
    const rest = s.next()!;
    expect(rest.kind).toBe('fail');
    expect(rest.events.map((e) => e.line)).toEqual([3, 4, 5]);
  });

  it('keeps per-channel order and exclusivity under random completion order (simulation)', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const s = new ChannelScheduler();
    const channels = ['a', 'b', 'c', 'd', 'e', 'private-encrypted-f'];
    const total = 3000;
    for (let i = 1; i <= total; i++) {
      const n = random() < 0.1 ? 2 : 1;
      const picked = new Set<string>();
      while (picked.size < n) picked.add(channels[Math.floor(random() * channels.length)]!);
      s.push(ev(i, ...picked));
    }
    const delivered = new Map<string, number[]>();
    const inFlight: Job[] = [];
    let handed = 0;
    while (handed < total || inFlight.length > 0) {
      for (let job = s.next(); job; job = inFlight.length < 8 ? s.next() : undefined) {
        const busy = new Set(inFlight.flatMap((j) => j.channels));
        for (const c of job.channels) expect(busy.has(c)).toBe(false);
        expect(job.events.length).toBeLessThanOrEqual(10);
        inFlight.push(job);
        handed += job.events.length;
      }
      const [done] = inFlight.splice(Math.floor(random() * inFlight.length), 1);
      for (const e of done!.events) for (const c of e.channels) delivered.set(c, [...(delivered.get(c) ?? []), e.line]);
      s.done(done!);
    }
    expect(s.pending).toBe(0);
    let count = 0;
    for (const lines of delivered.values()) {
      expect(lines).toEqual([...lines].sort((x, y) => x - y));
      count += lines.length;
    }
    expect(count).toBeGreaterThan(total);
  });
});

/** A driver whose requests take a random time; `fail` decides which requests fail. */
function fakeDriver(fail: (channels: string[]) => DeliveryError | undefined = () => undefined) {
  const received: { channel: string; line: number }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let requests = 0;
  const inFlightChannels = new Set<string>();
  const handle = async (entries: { channels: string[]; data: unknown }[]) => {
    requests++;
    const channels = [...new Set(entries.flatMap((e) => e.channels))];
    for (const c of channels) {
      if (inFlightChannels.has(c)) throw new Error(`two requests in flight for ${c}`);
      inFlightChannels.add(c);
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    inFlight--;
    for (const c of channels) inFlightChannels.delete(c);
    const error = fail(channels);
    if (error) throw error;
    for (const e of entries) for (const c of e.channels) received.push({ channel: c, line: (e.data as { line: number }).line });
  };
  const driver: Driver = {
    driver: 'pusher',
    delivers: true,
    trigger: (r: TriggerRequest) => handle([{ channels: r.channels, data: r.data }]),
    triggerBatch: (events: BatchEvent[]) => handle(events.map((e) => ({ channels: [e.channel], data: e.data }))),
    get: async () => ({}) as never,
    close() {},
  };
  return { driver, received, stats: () => ({ maxInFlight, requests }) };
}

const lineTexts = (n: number, channelOf: (i: number) => string | string[]) =>
  Array.from({ length: n }, (_, k) => {
    const i = k + 1;
    const c = channelOf(i);
    return JSON.stringify({ ...(Array.isArray(c) ? { channels: c } : { channel: c }), event: 'e', data: { line: i } });
  });

function expectOrdered(received: { channel: string; line: number }[]): void {
  const byChannel = new Map<string, number[]>();
  for (const r of received) byChannel.set(r.channel, [...(byChannel.get(r.channel) ?? []), r.line]);
  for (const lines of byChannel.values()) expect(lines).toEqual([...lines].sort((a, b) => a - b));
}

describe('sendBulk', () => {
  it('sends every event once, in per-channel order, within the concurrency limit', async () => {
    const fake = fakeDriver();
    const texts = lineTexts(2000, (i) => (i % 97 === 0 ? [`c${i % 7}`, `c${(i + 1) % 7}`] : `c${i % 7}`));
    const result = await sendBulk(fake.driver, linesOf(texts), { concurrency: 4 });
    expect(result).toMatchObject({ events: 2000, sent: 2000, failed: 0 });
    expect(fake.received).toHaveLength(2000 + 20); // the 20 two-channel lines arrive twice
    expectOrdered(fake.received);
    expect(fake.stats().maxInFlight).toBeLessThanOrEqual(4);
    expect(fake.stats().maxInFlight).toBeGreaterThan(1);
    expect(result.batches).toBeLessThan(300);
  });

  it('after a failure, holds back the rest of each affected channel: sent is a prefix, failed the rest, in order', async () => {
    let failures = 0;
    const fake = fakeDriver((channels) =>
      channels.includes('bad') && failures++ === 0 ? new DeliveryError('The server answered HTTP 500', { status: 500 }) : undefined,
    );
    const texts = lineTexts(300, (i) => (i % 3 === 0 ? 'bad' : `ok${i % 2}`));
    const failed: string[] = [];
    const result = await sendBulk(fake.driver, linesOf(texts), { concurrency: 3, failed: { write: (l) => failed.push(l) } });
    expect(result.sent + result.failed).toBe(300);
    expect(result.errors).toEqual([{ message: 'The server answered HTTP 500', events: expect.any(Number) }]);
    const failedByChannel = new Map<string, number[]>();
    for (const l of failed) {
      const { channel, data } = JSON.parse(l) as { channel: string; data: { line: number } };
      failedByChannel.set(channel, [...(failedByChannel.get(channel) ?? []), data.line]);
    }
    expect(failedByChannel.get('bad')!.length).toBeGreaterThan(0);
    for (const [channel, lines] of failedByChannel) {
      expect(lines).toEqual([...lines].sort((a, b) => a - b));
      // Nothing at or after the channel's first failed event was delivered.
      expect(fake.received.filter((r) => r.channel === channel && r.line >= lines[0]!)).toEqual([]);
      // And everything before it was.
      const total = texts.filter((t) => JSON.parse(t).channel === channel).length;
      expect(fake.received.filter((r) => r.channel === channel)).toHaveLength(total - lines.length);
    }
    expectOrdered(fake.received);
  });

  it('stops after consecutive connection failures and writes the rest out in input order', async () => {
    const fake = fakeDriver(() => new DeliveryError('Could not reach the server at http://x:1: connection refused (5 attempts in 3.2 s)', { retryable: true }));
    const texts = lineTexts(50_000, (i) => `c${i % 50}`);
    const failed: string[] = [];
    const started = Date.now();
    const result = await sendBulk(fake.driver, linesOf(texts), { concurrency: 8, failed: { write: (l) => failed.push(l) } });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result).toMatchObject({ events: 50_000, sent: 0, failed: 50_000, stopped: 'server-down' });
    expect(fake.stats().requests).toBeLessThan(30);
    expect(result.errors).toEqual([{ message: 'Could not reach the server at http://x:1: connection refused', events: expect.any(Number) }]);
    expect(failed).toHaveLength(50_000);
    expect(new Set(failed).size).toBe(50_000);
  });

  it('stops at once when the server rejects the credentials', async () => {
    const fake = fakeDriver(() => new DeliveryError('The server rejected the credentials (HTTP 401)', { status: 401 }));
    const result = await sendBulk(fake.driver, linesOf(lineTexts(500, (i) => `c${i % 5}`)), { concurrency: 2 });
    expect(result).toMatchObject({ sent: 0, failed: 500, stopped: 'rejected' });
    expect(fake.stats().requests).toBeLessThanOrEqual(2);
  });

  it('honours --rate', async () => {
    const fake = fakeDriver();
    const started = Date.now();
    const result = await sendBulk(fake.driver, linesOf(lineTexts(60, (i) => `c${i % 4}`)), { rate: 200 });
    const ms = Date.now() - started;
    expect(result.sent).toBe(60);
    // The first 10 go at once, the other 50 at 200/s: about 250 ms.
    expect(ms).toBeGreaterThanOrEqual(200);
    expect(ms).toBeLessThan(1500);
  });

  it('an abort signal stops starting requests and accounts for every event', async () => {
    const fake = fakeDriver();
    const controller = new AbortController();
    const failed: string[] = [];
    const promise = sendBulk(fake.driver, linesOf(lineTexts(5000, (i) => `c${i % 3}`)), {
      concurrency: 2,
      rate: 2000,
      signal: controller.signal,
      failed: { write: (l) => failed.push(l) },
    });
    setTimeout(() => controller.abort(), 100);
    const result = await promise;
    expect(result.stopped).toBe('interrupted');
    expect(result.sent).toBeGreaterThan(0);
    expect(result.sent + result.failed).toBe(5000);
    expect(failed).toHaveLength(result.failed);
  });
});

describe('RateLimiter', () => {
  it('lets a request of more messages than the burst go when the bucket is full, and makes the next ones wait for the debt', async () => {
    const limiter = new RateLimiter(1000, 10);
    const started = performance.now();
    await limiter.take(100);
    expect(performance.now() - started).toBeLessThan(20);
    await limiter.take(100);
    // 100 messages of debt, then 10 for a full bucket again: about 100 ms at 1,000 a second.
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('stops waiting when its signal is aborted', async () => {
    const limiter = new RateLimiter(1, 1);
    await limiter.take(1);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const started = performance.now();
    await limiter.take(1, controller.signal);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('sendBulk: limits, stalls and the journal', () => {
  /** A driver that records, per trigger/batch request, when it started and how many were in flight. */
  function timedDriver(answer: (n: number) => Promise<void> = () => new Promise((r) => setTimeout(r, 5))) {
    let inFlight = 0;
    let maxInFlight = 0;
    const starts: { at: number; channels: number }[] = [];
    const handle = async (channels: number) => {
      starts.push({ at: performance.now(), channels });
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await answer(starts.length);
      } finally {
        inFlight--;
      }
    };
    const driver: Driver = {
      driver: 'pusher',
      delivers: true,
      trigger: (r: TriggerRequest) => handle(r.channels.length),
      triggerBatch: (events: BatchEvent[]) => handle(events.length),
      get: async () => ({}) as never,
      close() {},
    };
    return { driver, starts, maxInFlight: () => maxInFlight };
  }

  it('--concurrency bounds the requests of one line with many channels, and --rate counts one message per channel', async () => {
    const channels = Array.from({ length: 350 }, (_, i) => `c${i}`);
    const line = JSON.stringify({ channels, event: 'e', data: {} });
    const one = timedDriver();
    const result = await sendBulk(one.driver, linesOf([line]), { concurrency: 1, rate: 1000 });
    expect(result).toMatchObject({ events: 1, sent: 1, failed: 0, requests: 4, triggers: 1 });
    expect(one.maxInFlight()).toBe(1);
    expect(one.starts.map((s) => s.channels)).toEqual([100, 100, 100, 50]);
    // 100 messages each at 1,000 a second: the fourth starts about 300 ms after the first.
    expect(one.starts[3]!.at - one.starts[0]!.at).toBeGreaterThanOrEqual(280);

    const four = timedDriver();
    const many = Array.from({ length: 1000 }, (_, i) => `d${i}`);
    await sendBulk(four.driver, linesOf([JSON.stringify({ channels: many, event: 'e' })]), { concurrency: 4 });
    expect(four.starts).toHaveLength(10);
    expect(four.maxInFlight()).toBe(4);
  });

  it('a few stalled requests are failures, not a stop: the rest is sent, and every unsent event has its reason', async () => {
    // The first three requests (three channels' first batches) get no answer; everything else is answered.
    const noAnswer = () => new DeliveryError('No answer from http://x:1 within 100 ms', { details: { maybeDelivered: true } });
    const fake = timedDriver(async (n) => {
      await new Promise((r) => setTimeout(r, n <= 3 ? 100 : 1));
      if (n <= 3) throw noAnswer();
    });
    const texts = lineTexts(3000, (i) => `c${i % 30}`);
    const failed: string[] = [];
    // One chunk: each channel's queue is full, so each request is 10 events of one channel.
    const input = [texts.map((text, i) => ({ line: i + 1, text }))];
    const result = await sendBulk(fake.driver, input, { concurrency: 4, failed: { write: (l) => failed.push(l) } });
    expect(result.stopped).toBeUndefined();
    expect(result).toMatchObject({ events: 3000, sent: 2700, failed: 300, maybeDelivered: 30, unsent: { failed: 30, heldBack: 270, notAttempted: 0 } });
    expect(result.errors).toEqual([{ message: 'No answer from http://x:1 within 100 ms', events: 30 }]);
    expect(failed).toHaveLength(300);
  });

  it('a server that answers nothing at all stops the run after many requests in a row (twice the concurrency)', async () => {
    const fake = timedDriver(async () => {
      await new Promise((r) => setTimeout(r, 2));
      throw new DeliveryError('No answer from http://x:1 within 2 ms', { details: { maybeDelivered: true } });
    });
    const result = await sendBulk(fake.driver, linesOf(lineTexts(5000, (i) => `c${i % 500}`)), { concurrency: 4 });
    expect(result.stopped).toBe('unresponsive');
    expect(fake.starts.length).toBeGreaterThanOrEqual(8);
    expect(fake.starts.length).toBeLessThan(20);
    expect(result.unsent.failed + result.unsent.heldBack + result.unsent.notAttempted).toBe(5000);
    expect(result.unsent.notAttempted).toBeGreaterThan(4000);
  });

  it('tells the journal each confirmed event once, as it is confirmed, and what is in flight when it stops', async () => {
    const controller = new AbortController();
    const confirmed: number[] = [];
    let inFlightAtStop: number[] = [];
    const journal: BulkJournal = {
      sent: (events) => confirmed.push(...events.map((e) => e.line)),
      stopping: (_why, inFlight) => (inFlightAtStop = inFlight.map((e) => e.line)),
    };
    const fake = timedDriver(async (n) => {
      if (n === 20) controller.abort();
      await new Promise((r) => setTimeout(r, 5));
    });
    const result = await sendBulk(fake.driver, linesOf(lineTexts(2000, (i) => `c${i % 40}`)), { concurrency: 4, journal, signal: controller.signal });
    expect(result.stopped).toBe('interrupted');
    expect(new Set(confirmed).size).toBe(confirmed.length);
    expect(confirmed).toHaveLength(result.sent);
    // The requests in flight at the stop were then confirmed too (they finish), and nothing else was.
    expect(inFlightAtStop.length).toBeGreaterThan(0);
    for (const line of inFlightAtStop) expect(confirmed).toContain(line);
  });
});

describe('Broadcast.sendMany', () => {
  it('takes event objects one by one; the log driver writes each to the logger, one line in one format', async () => {
    const lines: string[] = [];
    const broadcast = new Broadcast({}, { env: {}, logger: (line) => lines.push(line) });
    const events = [
      { channel: 'orders', event: 'order.shipped', data: { id: 1 } },
      { channels: ['orders', 'private-x'], event: 'order.shipped', data: { id: 2 } },
      { channel: 'orders', event: 'order.paid' },
    ];
    const result = await broadcast.sendMany(events);
    expect(result).toMatchObject({ events: 3, sent: 3, failed: 0, batches: 2, triggers: 1 }); // in order: batch, trigger, batch
    expect(lines).toEqual(['order.shipped → orders {"id":1}', 'order.shipped → orders, private-x {"id":2}', 'order.paid → orders {}']);
    // A single send writes the same line.
    await broadcast.channel(['orders', 'private-x'], 'order.shipped', { id: 3 });
    expect(lines.at(-1)).toBe('order.shipped → orders, private-x {"id":3}');
  });

  it('a stream as the logger gets the lines with line breaks', async () => {
    let text = '';
    const broadcast = new Broadcast({}, { env: {}, logger: { write: (chunk: string) => (text += chunk) } });
    await broadcast.channel('a', 'e', [1]);
    expect(text).toBe('e → a [1]\n');
  });

  it('an event that breaks the rules is failed (written out, with why) and the others are sent', async () => {
    const broadcast = new Broadcast({ connections: { quiet: { driver: 'null', maxPayloadKb: 1 } }, default: 'quiet' }, { env: {} });
    const failed: string[] = [];
    const result = await broadcast.sendMany(
      [
        [{ channel: 'a', event: 'e' }, { channel: 'bad name', event: 'e' }],
        [{ channel: 'a', event: 'e', data: 'x'.repeat(2000) }, { line: 9, text: '{"channel":"a","event":"e"}' }],
      ],
      { failed: { write: (line) => failed.push(line) } },
    );
    expect(result).toMatchObject({ events: 4, sent: 2, failed: 2 });
    expect(result.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^line 2: invalid channel name "bad name": it contains " "/),
      'line 3: the data is 2000 bytes; the limit for this connection is 1024 bytes (1 KB)',
    ]);
    expect(failed.map((l) => JSON.parse(l).channel)).toEqual(['bad name', 'a']);
  });
});
