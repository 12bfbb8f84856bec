/** Reading JSON given on the command line: inline, `@file`, or `-` for standard input. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../core/errors.js';
import { readStream, type Context } from './context.js';

/** Parses `value` as JSON, naming `what` (e.g. "--data") and the position of the problem. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const detail = (error as Error).message.replace(/^JSON\.parse: /, '');
    throw new UsageError(`Invalid JSON in ${what}: ${detail}`, {
      hint: `Quote the whole JSON for your shell, e.g. ${what.startsWith('--') ? what : '--data'} '{"id":1}'`,
    });
  }
}

/** The JSON value of an option: inline JSON, `@path` for a file, `-` for standard input. */
export async function readJsonOption(ctx: Context, value: string, flag: string): Promise<unknown> {
  if (value === '-') return parseJson(await readStream(ctx.stdin), `${flag} (standard input)`);
  if (value.startsWith('@')) {
    const file = value.slice(1);
    let text: string;
    try {
      // A path, relative to the working folder: `#`, `%` and `?` are file name characters, not URL syntax.
      text = await readFile(path.resolve(ctx.cwd, file), 'utf8');
    } catch (error) {
      throw new UsageError(`Cannot read ${flag} file ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
    }
    return parseJson(text, `${flag} file ${file}`);
  }
  return parseJson(value, flag);
}

/**
 * Refuses the global `--connection` for a command that uses no connection (it writes or reads files only), so
 * the flag is never silently ignored.
 */
export function refuseConnectionFlag(ctx: Pick<Context, 'options'>, command: string): void {
  if (ctx.options.connection === undefined) return;
  throw new UsageError(`${command} uses no connection: --connection ${JSON.stringify(ctx.options.connection)} would be ignored`, {
    hint: 'Drop --connection here; it picks the connection for commands that send, sign or ask a server (emit, auth:sign, listen, …)',
  });
}

/** Splits a comma-separated list, refusing empty entries. */
export function splitList(value: string, what: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) {
    throw new UsageError(`Empty entry in the ${what} list ${JSON.stringify(value)}`, { hint: 'Separate names with single commas, without a trailing comma' });
  }
  return items;
}
