/** What every command gets: where it runs, its environment, its output, and the global options. */
import path from 'node:path';
import type { Broadcast } from '../core/broadcast.js';
import { maxPayloadKbFromEnv, secretsOf, type Env } from '../config/schema.js';
import { StoppedError } from '../core/errors.js';
import type { StreamRecord } from './command.js';
import type { Io } from './io.js';

export interface GlobalOptions {
  config?: string;
  connection?: string;
  json?: boolean;
  color?: boolean;
  verbose?: boolean;
}

/** Per-request settings that network commands take as flags. */
export interface NetworkOptions {
  /** Milliseconds (the flag takes a duration: `5s`, `500ms`). */
  timeout?: number;
  retries?: number;
}

/** What a command that sends events may set on top of the network settings. */
export interface SendingOptions extends NetworkOptions {
  /** `--max-payload-kb`: overrides BROADCAST_MAX_PAYLOAD_KB and the connection's maxPayloadKb. */
  maxPayloadKb?: number;
}

export interface Context {
  cwd: string;
  env: Env;
  io: Io;
  options: GlobalOptions;
  /** Reads standard input (tests replace it). */
  stdin: NodeJS.ReadableStream;
  /** Aborted when the user asks the command to stop (SIGINT, SIGTERM, SIGHUP); its reason is the signal's name. */
  signal: AbortSignal;
  /** Streaming commands: one record, as NDJSON in JSON mode or rendered for a person. */
  emit(record: StreamRecord): void;
}

/** The error for a command stopped by a signal, or undefined while it has not been asked to stop. */
export function stoppedBy(ctx: Pick<Context, 'signal'>): StoppedError | undefined {
  return ctx.signal.aborted ? new StoppedError(ctx.signal.reason as NodeJS.Signals) : undefined;
}

/**
 * Loads the project's config and connection for a command, with the command's `--timeout` and `--retries`
 * and the payload limit (`--max-payload-kb`, else BROADCAST_MAX_PAYLOAD_KB, else the connection's),
 * registering its secrets for redaction. The log driver's lines are the command's results: on stdout (in
 * JSON mode the result carries the data instead).
 */
export async function openBroadcast(ctx: Context, network: SendingOptions = {}): Promise<Broadcast> {
  const maxPayloadKb = network.maxPayloadKb ?? maxPayloadKbFromEnv(ctx.env);
  const { Broadcast } = await import('../core/broadcast.js');
  const { io, options } = ctx;
  const broadcast = await Broadcast.fromConfig({
    cwd: ctx.cwd,
    configPath: options.config,
    connection: options.connection,
    env: ctx.env,
    timeout: network.timeout,
    retries: network.retries,
    maxPayloadKb,
    logger: io.json ? () => {} : (line: string) => io.out(line),
    // Request logging only with --verbose: bulk sends make thousands of requests.
    ...(io.verbose
      ? {
          onRequest: ({ method, path: p, status, ms }: { method: string; path: string; status?: number; ms: number }) =>
            io.debug(`${method} ${p} → ${status ?? 'no response'} (${ms.toFixed(0)} ms)`),
          onRetry: ({ attempt, delayMs, error }: { attempt: number; delayMs: number; error: Error }) =>
            io.debug(`retry ${attempt} in ${delayMs} ms: ${error.message}`),
        }
      : {}),
  });
  io.addSecrets(secretsOf(broadcast.resolved.connection));
  for (const note of broadcast.resolved.notes) io.note(`${io.errStyle.dim('note:')} ${note}`);
  return broadcast;
}

/** The folder relative paths in the config are resolved against: the config file's, else the cwd. */
export function projectDir(ctx: Context, broadcast: Broadcast): string {
  return broadcast.configPath ? path.dirname(broadcast.configPath) : ctx.cwd;
}

/** All of a stream, as bytes (for signatures over a raw body). */
export async function readBytes(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** All of a stream, as UTF-8 text. */
export async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  return (await readBytes(stream)).toString('utf8');
}
