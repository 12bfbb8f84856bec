/**
 * What bulk sending keeps on disk, and how it reads its input again: the journal (what the server confirmed),
 * the failed output (claimed by one run, written whole), lock files, and the check that a second read of the
 * input sees what the first did.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, linkSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimFailedOut, FailedOutClaimError } from '../../src/bulk/failed-out.js';
import { Journal, journalPath, LockedError, readJournal, type JournalIdentity } from '../../src/bulk/journal.js';
import { lockFile } from '../../src/bulk/lock.js';
import type { BulkEvent } from '../../src/bulk/ndjson.js';
import { BLOCK_BYTES, Digester, InputChangedError, verified } from '../../src/bulk/source.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'broadcast-records-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const identity: JournalIdentity = { input: 'a'.repeat(64), events: 6, lines: 7, connection: 'pusher', target: 'http://127.0.0.1:6001/apps/1', file: 'events.ndjson' };
const ev = (line: number, ...channels: string[]): BulkEvent => ({ line, channels: channels.length ? channels : ['c'], event: 'e', data: {}, raw: '' });

/** A process id that is surely not running: a child that already exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('Journal', () => {
  it('records confirmed events as they come; --resume reads them back, a partly confirmed trigger by channel', () => {
    const journal = Journal.open(dir, identity, { resume: false });
    journal.sent([ev(1), ev(3)]);
    journal.sent([ev(4, 'a', 'b', 'c')], ['a', 'b']);
    journal.stopping('interrupted', [ev(5)]);
    // Readable (and complete on disk) before the run ends: this is what a kill -9 leaves.
    const seen = readJournal(journal.file, identity);
    expect([1, 2, 3, 4, 5, 6, 7].filter((n) => seen.confirmations.has(n))).toEqual([1, 3]);
    expect([...seen.confirmations.channelsOf(4)!]).toEqual(['a', 'b']);
    expect(seen.confirmations.count).toBe(2);
    journal.finish({ sent: 2 });

    const resumed = Journal.open(dir, identity, { resume: true });
    expect(resumed.confirmations.count).toBe(2);
    resumed.sent([ev(4, 'a', 'b', 'c')], ['c']);
    expect(resumed.confirmations.has(4)).toBe(true);
    resumed.close();
    // Without --resume the journal starts again (and says what it held).
    const fresh = Journal.open(dir, identity, { resume: false });
    expect(fresh.earlier.confirmations.count).toBe(3);
    expect(fresh.confirmations.count).toBe(0);
    fresh.close();
    expect(readJournal(fresh.file, identity).confirmations.count).toBe(0);
  });

  it('ignores a last record cut short (a power loss during its write), and a journal of another input', () => {
    const journal = Journal.open(dir, identity, { resume: false });
    journal.sent([ev(1)]);
    journal.close();
    appendFileSync(journal.file, 's 2 3');
    expect([1, 2, 3].filter((n) => readJournal(journal.file, identity).confirmations.has(n))).toEqual([1]);
    expect(readJournal(journal.file, { ...identity, input: 'b'.repeat(64) }).found).toBe(false);
    expect(journalPath(dir, { ...identity, input: 'b'.repeat(64) })).not.toBe(journal.file);
  });

  it('is rewritten as done once every event is confirmed, so a later --resume sends nothing', () => {
    const journal = Journal.open(dir, identity, { resume: false });
    journal.sent([1, 2, 3, 4, 5, 6].map((n) => ev(n)));
    journal.finish({ sent: 6 });
    expect(readFileSync(journal.file, 'utf8').split('\n').slice(1)).toEqual(['done', '']);
    const again = readJournal(journal.file, identity);
    expect(again).toMatchObject({ done: true, found: true });
    expect(again.confirmations.has(7)).toBe(true);
    expect(statSync(journal.file).mode & 0o777).toBe(0o600);
  });

  it('is held by one run at a time; the lock of a run that died is taken over', () => {
    const journal = Journal.open(dir, identity, { resume: false });
    expect(() => Journal.open(dir, identity, { resume: true })).toThrow(LockedError);
    journal.close();
    Journal.open(dir, identity, { resume: true }).close();
    writeFileSync(`${journal.file}.lock`, `${deadPid()}\n`);
    const taken = Journal.open(dir, identity, { resume: true });
    taken.close();
  });
});

describe('lockFile', () => {
  it('refuses a lock a running process holds, names it, and is gone once released', () => {
    const target = path.join(dir, 'x');
    const lock = lockFile(target);
    expect(readFileSync(lock.file, 'utf8')).toBe(`${process.pid}\n`);
    expect(() => lockFile(target)).toThrow(`${target}.lock is held by process ${process.pid}`);
    lock.release();
    const pid = deadPid();
    writeFileSync(`${target}.lock`, `${pid}\n`);
    const again = lockFile(target);
    expect(again.tookOverFrom).toBe(pid);
    again.release();
    expect(() => statSync(`${target}.lock`)).toThrow(/ENOENT/);
  });
});

describe('claimFailedOut', () => {
  const problem = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      if (error instanceof FailedOutClaimError) return error.problem;
      throw error;
    }
    return undefined;
  };

  it('refuses the input itself by inode (a hard link or a symlink), a list of events, and a file another run writes', () => {
    const input = path.join(dir, 'events.ndjson');
    writeFileSync(input, '{"channel":"a","event":"e"}\n');
    const stats = statSync(input);
    linkSync(input, path.join(dir, 'hard.ndjson'));
    symlinkSync(input, path.join(dir, 'soft.ndjson'));
    expect(problem(() => claimFailedOut(path.join(dir, 'hard.ndjson'), stats, true))).toEqual({ kind: 'input' });
    expect(problem(() => claimFailedOut(path.join(dir, 'soft.ndjson'), stats, true))).toEqual({ kind: 'input' });
    expect(readFileSync(input, 'utf8')).toBe('{"channel":"a","event":"e"}\n');

    const old = path.join(dir, 'old.ndjson');
    writeFileSync(old, '{"channel":"b","event":"e"}\n');
    expect(problem(() => claimFailedOut(old, stats, false))).toEqual({ kind: 'not-empty', bytes: 28 });
    const claimed = claimFailedOut(path.join(dir, 'failed.ndjson'), stats, false);
    expect(problem(() => claimFailedOut(path.join(dir, 'failed.ndjson'), stats, false))).toEqual({ kind: 'locked', pid: process.pid });
    claimed.release();
  });

  it('writes whole lines, mode 0600, through a .partial file renamed into place; a replaced list is removed when sending starts', async () => {
    const file = path.join(dir, 'failed.ndjson');
    writeFileSync(file, 'stale\n', { mode: 0o644 });
    const claimed = claimFailedOut(file, undefined, true);
    expect(readFileSync(file, 'utf8')).toBe('stale\n');
    claimed.clear();
    expect(() => statSync(file)).toThrow(/ENOENT/);
    const lines = Array.from({ length: 30_000 }, (_, i) => JSON.stringify({ channel: 'a', event: 'e', data: { i } }));
    expect(await claimed.write(lines)).toBe(30_000);
    expect(readFileSync(file, 'utf8')).toBe(`${lines.join('\n')}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(() => statSync(`${file}.partial`)).toThrow(/ENOENT/);
    expect(await claimed.write([])).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('');
    claimed.release();
  });
});

describe('verified (a later read of the input)', () => {
  const digestOf = (bytes: Buffer) => {
    const digester = new Digester();
    digester.update(bytes.subarray(0, 1000));
    digester.update(bytes.subarray(1000));
    return digester.digest();
  };
  async function read(bytes: Buffer, digest: ReturnType<typeof digestOf>): Promise<Buffer> {
    const out: Buffer[] = [];
    for await (const piece of verified([bytes.subarray(0, 300_000), bytes.subarray(300_000)] as unknown as AsyncIterable<Buffer>, digest, 'events.ndjson')) out.push(piece);
    return Buffer.concat(out);
  }
  const input = Buffer.alloc(BLOCK_BYTES * 2 + 12_345, 'x');

  it('hands on the same bytes, block by block', async () => {
    expect((await read(input, digestOf(input))).equals(input)).toBe(true);
    const empty = Buffer.alloc(0);
    expect((await read(empty, digestOf(empty))).length).toBe(0);
  });

  it('stops at the first block that differs, before handing any of it on, and catches a longer or shorter input', async () => {
    const digest = digestOf(input);
    const changed = Buffer.from(input);
    changed[BLOCK_BYTES + 5] = 0x79;
    const handed: Buffer[] = [];
    const reading = (async () => {
      for await (const piece of verified([changed] as unknown as AsyncIterable<Buffer>, digest, 'events.ndjson')) handed.push(piece);
    })();
    await expect(reading).rejects.toThrow(new InputChangedError('events.ndjson', BLOCK_BYTES));
    expect(Buffer.concat(handed).length).toBe(BLOCK_BYTES);
    await expect(read(Buffer.concat([input, Buffer.from('{}\n')]), digest)).rejects.toThrow(InputChangedError);
    await expect(read(input.subarray(0, input.length - 1), digest)).rejects.toThrow(InputChangedError);
  });
});
