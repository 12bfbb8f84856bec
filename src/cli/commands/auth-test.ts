/**
 * `broadcast auth:test <url>`: asks a live auth route to sign subscriptions the way pusher-js does (a form
 * POST of `socket_id` and `channel_name`, with the user's cookie or bearer token) and checks each answer:
 * the status, the `auth` value's shape and key, its signature with the configured secret, a presence
 * channel's `channel_data`; with `--anonymous`, that a request without credentials is refused with 403.
 */
import { credentialsOf } from '../../auth/authorize.js';
import { verifyChannelAuth, type AuthCredentials } from '../../auth/sign.js';
import { channelType } from '../../core/channels.js';
import { BroadcastError, UsageError } from '../../core/errors.js';
import { validateChannelName, validateSocketId } from '../../core/validation.js';
import { defineCommand } from '../command.js';
import { openBroadcast, stoppedBy, type NetworkOptions } from '../context.js';
import { splitList } from '../input.js';
import { parseHttpUrl, post, snippet, type PostAnswer } from '../post.js';
import { randomSocketId } from './auth-sign.js';

export interface AuthTestOptions extends NetworkOptions {
  /** Repeated --channel values, each possibly comma-separated. */
  channel?: string[];
  header?: string[];
  bearer?: string;
  anonymous?: boolean;
  socketId?: string;
}

/** One check: `pass`, `fail`, or `skip` (could not be checked, e.g. no master key to compare a shared_secret with). */
export interface AuthTestCheck {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  detail: string;
}

export interface AuthTestResult {
  url: string;
  connection: string;
  socketId: string;
  channels: string[];
  checks: AuthTestCheck[];
}

export const DEFAULT_TEST_CHANNELS = ['private-broadcast-test', 'presence-broadcast-test'];

/** Pusher's limit on a presence member's user_info. */
const MAX_USER_INFO_BYTES = 1024;

export default defineCommand<AuthTestResult>({
  async run(ctx, target: string, options: AuthTestOptions) {
    // All input is checked before anything is sent.
    const url = parseHttpUrl(target, 'The auth route URL');
    const channels = [...new Set((options.channel?.length ? options.channel : DEFAULT_TEST_CHANNELS).flatMap((c) => splitList(c, 'channel')))];
    for (const channel of channels) {
      validateChannelName(channel);
      if (channelType(channel) === 'public') {
        throw new UsageError(`"${channel}" is a public channel: the auth route never signs those`, { hint: `Test private-, presence- or private-encrypted- channels, e.g. --channel private-${channel}` });
      }
    }
    const headers = parseHeaders(options.header ?? []);
    if (options.bearer !== undefined) {
      if (options.bearer.trim() === '') throw new UsageError('--bearer must not be empty');
      if (Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) throw new UsageError('Give --bearer or an Authorization --header, not both');
      headers.Authorization = `Bearer ${options.bearer.trim()}`;
    }
    const socketId = options.socketId === undefined ? randomSocketId() : validateSocketId(options.socketId);
    // Cookies and tokens are credentials: never printed.
    ctx.io.addSecrets(Object.values(headers).flatMap((v) => [v, ...v.split(/[;=\s]+/)]));

    const broadcast = await openBroadcast(ctx, options);
    let credentials: AuthCredentials & { connectionName: string };
    try {
      credentials = credentialsOf(broadcast);
    } finally {
      broadcast.close();
    }
    const checks: AuthTestCheck[] = [];
    const result: AuthTestResult = { url: url.href, connection: credentials.connectionName, socketId, channels, checks };
    const ask = (channel: string, withHeaders: Record<string, string>) =>
      post(url, {
        headers: { ...withHeaders, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ socket_id: socketId, channel_name: channel }).toString(),
        timeoutMs: options.timeout,
        signal: ctx.signal,
      });

    try {
      for (const channel of channels) checks.push(...checkAnswer(credentials, socketId, channel, await answerOf(() => ask(channel, headers))));
      if (options.anonymous) checks.push(anonymousCheck(await answerOf(() => ask(channels[0]!, {}))));
    } catch (error) {
      const stopped = stoppedBy(ctx);
      if (stopped) return { result, error: stopped };
      throw error;
    }
    const failed = checks.filter((c) => c.status === 'fail');
    if (failed.length === 0) return { result };
    return {
      result,
      error: new BroadcastError(`${failed.length} of ${checks.length} checks failed: ${failed.map((c) => c.name).join(', ')}`, {
        code: 'checks_failed',
        hint: hintFor(failed),
      }),
    };
  },

  render(io, { url, connection, checks }) {
    const s = io.style;
    io.note(io.errStyle.dim(`${url} (checked against connection "${connection}")`));
    for (const check of checks) {
      const mark = check.status === 'pass' ? s.green('✓') : check.status === 'fail' ? s.red('✗') : s.dim('-');
      io.out(`${mark} ${check.name}  ${s.dim(check.detail)}`);
    }
    if (checks.every((c) => c.status !== 'fail')) io.note(`${checks.filter((c) => c.status === 'pass').length} checks passed`);
  },
});

/** `--header 'Name: value'`, repeated. */
function parseHeaders(values: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values) {
    const colon = value.indexOf(':');
    const name = colon === -1 ? '' : value.slice(0, colon).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new UsageError(`--header must be "Name: value", not ${JSON.stringify(value.slice(0, 60))}`, { hint: "e.g. --header 'Cookie: session=…'" });
    }
    headers[name] = value.slice(colon + 1).trim();
  }
  return headers;
}

type Answered = { ok: true; answer: PostAnswer } | { ok: false; message: string };

/** The answer, or why there was none (a network failure is a failed check, not the command's error). */
async function answerOf(request: () => Promise<PostAnswer>): Promise<Answered> {
  try {
    return { ok: true, answer: await request() };
  } catch (error) {
    if (error instanceof BroadcastError) return { ok: false, message: error.message };
    throw error;
  }
}

/** The checks of one channel's answer, in order; the first that fails ends them (later ones depend on it). */
function checkAnswer(credentials: AuthCredentials, socketId: string, channel: string, answered: Answered): AuthTestCheck[] {
  const checks: AuthTestCheck[] = [];
  const add = (name: string, status: AuthTestCheck['status'], detail: string) => {
    checks.push({ name: `${channel}: ${name}`, status, detail });
    return checks;
  };
  const pass = (name: string, detail: string) => add(name, 'pass', detail);
  const fail = (name: string, detail: string) => add(name, 'fail', detail);

  if (!answered.ok) return fail('status', answered.message);
  const { status, text } = answered.answer;
  if (status !== 200) return fail('status', `HTTP ${status}${text ? `: ${snippet(text)}` : ''}`);
  pass('status', 'HTTP 200');

  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
  } catch {
    return fail('auth', `the body is not a JSON object: ${snippet(text, 80)}`);
  }
  const auth = body.auth;
  if (typeof auth !== 'string') return fail('auth', 'the body has no "auth" string');
  const shape = /^([^:]*):([0-9a-f]{64})$/.exec(auth);
  if (!shape) return fail('auth', `"auth" is not "<key>:<64 hex digits>": ${snippet(auth, 80)}`);
  if (shape[1] !== credentials.key) return fail('auth', `signed for app key "${shape[1]}", but the configured key is "${credentials.key}"`);
  pass('auth', `key ${credentials.key}, 64 hex digits`);

  const type = channelType(channel);
  let channelData: string | undefined;
  if (type === 'presence') {
    const problem = channelDataProblem(body.channel_data);
    if (problem) return fail('channel_data', problem);
    channelData = body.channel_data as string;
    const member = JSON.parse(channelData) as { user_id: unknown; user_info?: unknown };
    pass('channel_data', `user_id ${JSON.stringify(member.user_id)}${member.user_info === undefined ? ', no user_info' : `, user_info ${Buffer.byteLength(JSON.stringify(member.user_info))} bytes`}`);
  } else if (body.channel_data !== undefined) {
    return fail('channel_data', `a ${type} channel's answer carries channel_data, which servers refuse`);
  }

  const verification = verifyChannelAuth(credentials, { socketId, channel, auth, ...(channelData !== undefined ? { channelData } : {}) });
  if (!verification.valid) return fail('signature', verification.message);
  pass('signature', 'valid for the configured secret');

  if (type === 'encrypted') {
    const shared = body.shared_secret;
    if (typeof shared !== 'string') return fail('shared_secret', 'an encrypted channel\'s answer needs a "shared_secret"');
    if (!credentials.encryptionMasterKeyBase64) {
      return add('shared_secret', 'skip', 'not compared: the connection has no encryptionMasterKeyBase64');
    }
    const matched = verifyChannelAuth(credentials, { socketId, channel, auth, sharedSecret: shared });
    if (!matched.valid) return fail('shared_secret', matched.message);
    pass('shared_secret', 'matches the configured master key');
  }
  return checks;
}

/** Why a presence answer's channel_data is not what Pusher needs, or undefined. */
function channelDataProblem(value: unknown): string | undefined {
  if (value === undefined) return 'a presence channel\'s answer needs "channel_data"';
  if (typeof value !== 'string') return '"channel_data" must be a JSON string (the exact text that was signed), not a JSON value';
  let member: unknown;
  try {
    member = JSON.parse(value);
  } catch {
    return `"channel_data" is not JSON: ${snippet(value, 80)}`;
  }
  if (member === null || typeof member !== 'object' || Array.isArray(member)) return '"channel_data" must hold a JSON object';
  const { user_id: userId, user_info: userInfo } = member as { user_id?: unknown; user_info?: unknown };
  if (!((typeof userId === 'string' && userId !== '') || (typeof userId === 'number' && Number.isFinite(userId)))) {
    return '"channel_data" has no user_id (a non-empty string or a number)';
  }
  if (userInfo !== undefined) {
    const bytes = Buffer.byteLength(JSON.stringify(userInfo));
    if (bytes > MAX_USER_INFO_BYTES) return `user_info is ${bytes} bytes; Pusher's limit is ${MAX_USER_INFO_BYTES}`;
  }
  return undefined;
}

function anonymousCheck(answered: Answered): AuthTestCheck {
  const name = 'anonymous refused';
  if (!answered.ok) return { name, status: 'fail', detail: answered.message };
  const { status, text } = answered.answer;
  if (status === 403) return { name, status: 'pass', detail: 'HTTP 403 without credentials' };
  const what = status === 200 ? 'the route signed a subscription for a request without credentials' : snippet(text);
  return { name, status: 'fail', detail: `HTTP ${status} (expected 403)${what ? `: ${what}` : ''}` };
}

function hintFor(failed: AuthTestCheck[]): string {
  const first = failed[0]!;
  if (first.name.endsWith(': status') && /HTTP 40[13]/.test(first.detail)) {
    return 'Pass the credentials a logged-in browser sends (--header \'Cookie: …\' or --bearer <token>), and test channels that user may join (--channel)';
  }
  if (first.name.endsWith(': signature') || first.detail.includes('configured key')) {
    return 'The route signs with other credentials than this connection: compare PUSHER_APP_KEY and PUSHER_APP_SECRET (or pick the connection with --connection)';
  }
  return 'See each failed check above';
}

