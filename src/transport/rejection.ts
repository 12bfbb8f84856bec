/**
 * What a server's refusal of a signed HTTP API request says, read from its answer: Pusher Channels explains a
 * 401 (a stale timestamp with both clocks, or the string it signed), Laravel Reverb answers validation errors
 * with 422 and the fields at fault, soketi and Reverb say only that the signature failed. Each becomes a
 * DeliveryError naming the cause and the fix; nothing here ever shows the secret (the strings compared are
 * what was signed, never the key it was signed with).
 */
import { connectionFields } from '../config/schema.js';
import { DeliveryError } from '../core/errors.js';

/** Pusher's window for `auth_timestamp` (s): requests signed further from the server's clock are refused. */
export const TIMESTAMP_WINDOW_S = 600;

/** How to set a machine's clock right, for the timestamp error and `doctor`'s clock check. */
export const CLOCK_FIX =
  'Sync this machine\'s clock: `sudo chronyc makestep` (chrony), `sudo timedatectl set-ntp true` (systemd), or ' +
  '`sudo ntpdate pool.ntp.org`; in a container or VM, fix the host\'s clock';

/** What the request that was refused looked like, for comparing with what the server says it expected. */
export interface SignedRequest {
  /** The string this client signed: `METHOD\npath\nsorted query` (no secret in it). */
  stringToSign: string;
}

/** `-1000` → "1000 s (16 min 40 s) behind"; `5` → "5 s ahead of". Seconds are this machine's clock minus the server's. */
export function describeSkew(skewSeconds: number): string {
  const s = Math.abs(Math.round(skewSeconds));
  let span = `${s} s`;
  if (s >= 3600) span += ` (${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min)`;
  else if (s >= 60) span += ` (${Math.floor(s / 60)} min ${s % 60} s)`;
  return `${span} ${skewSeconds < 0 ? 'behind' : 'ahead of'}`;
}

/** A moment as Pusher writes it (`2013-09-29T08:46:33Z`) or as seconds since 1970, in ms; undefined if neither. */
function instant(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const ms = Date.parse(trimmed);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Pusher's stale-timestamp answer, `Timestamp expired: Given timestamp (2013-09-29T08:46:33Z) not within 600s of
 * server time (2013-09-29T08:36:32Z)`: this machine's clock minus the server's, in seconds, and the window.
 */
export function parseTimestampExpired(text: string): { skewSeconds: number; windowSeconds: number } | undefined {
  const match = /Timestamp expired: Given timestamp \(([^)]*)\) not within (\d+)\s*s of server time \(([^)]*)\)/i.exec(text);
  if (!match) return undefined;
  const given = instant(match[1]!);
  const server = instant(match[3]!);
  if (given === undefined || server === undefined) return undefined;
  return { skewSeconds: Math.round((given - server) / 1000), windowSeconds: Number(match[2]) };
}

/**
 * The string Pusher signed, from its answer to a bad signature: `Invalid signature: you should have sent
 * HmacSHA256Hex("POST\n/apps/3/events\nauth_key=…", your_secret_key), but you sent "…"`. The string is quoted
 * as Ruby prints one (`\n`, `\"`, `\\`, `\#` escapes); real line breaks are taken as they are.
 */
export function parseExpectedStringToSign(text: string): string | undefined {
  const match = /HmacSHA256Hex\(\s*"((?:[^"\\]|\\.)*)"\s*,\s*your_secret_key\s*\)/.exec(text);
  if (!match) return undefined;
  return match[1]!.replace(/\\(u\{?[0-9a-fA-F]{1,6}\}?|x[0-9a-fA-F]{2}|.)/gs, (_, escape: string) => {
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', e: '\x1b', '0': '\0' };
    if (escape in simple) return simple[escape]!;
    if (escape[0] === 'u' && escape.length > 1) return String.fromCodePoint(parseInt(escape.replace(/[u{}]/g, ''), 16));
    if (escape[0] === 'x' && escape.length === 3) return String.fromCharCode(parseInt(escape.slice(1), 16));
    return escape; // \" \\ \# and any other escaped character stand for themselves
  });
}

/** One part of a signed request that differs between this client and the server. */
export interface SignedDifference {
  /** `method`, `path`, a parameter (`parameter body_md5`), or `request` when the strings cannot be split. */
  part: string;
  /** What this client signed ("(absent)" when it sent no such parameter). */
  sent: string;
  /** What the server signed. */
  server: string;
}

const ABSENT = '(absent)';

function params(query: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    map.set(at < 0 ? pair : pair.slice(0, at), at < 0 ? '' : pair.slice(at + 1));
  }
  return map;
}

/** Where two strings-to-sign (`METHOD\npath\nquery`) differ: method, path, and each parameter. Empty when equal. */
export function compareStringsToSign(sent: string, server: string): SignedDifference[] {
  if (sent === server) return [];
  const ours = sent.split('\n');
  const theirs = server.split('\n');
  if (ours.length !== 3 || theirs.length !== 3) return [{ part: 'request', sent, server }];
  const differences: SignedDifference[] = [];
  if (ours[0] !== theirs[0]) differences.push({ part: 'method', sent: ours[0]!, server: theirs[0]! });
  if (ours[1] !== theirs[1]) differences.push({ part: 'path', sent: ours[1]!, server: theirs[1]! });
  const a = params(ours[2]!);
  const b = params(theirs[2]!);
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(name) !== b.get(name)) differences.push({ part: `parameter ${name}`, sent: a.get(name) ?? ABSENT, server: b.get(name) ?? ABSENT });
  }
  // Same parameters in another order (or another separator): the strings still differ as a whole.
  return differences.length > 0 ? differences : [{ part: 'request', sent, server }];
}

const clip = (text: string, max = 80) => JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);

/** "path: sent "/apps/1/events", the server signed "/pusher/apps/1/events"", for a message. */
function describeDifference(d: SignedDifference): string {
  const note = d.part === 'parameter body_md5' ? ' (the body was changed)' : '';
  return `${d.part}: sent ${clip(d.sent)}, the server signed ${clip(d.server)}${note}`;
}

/**
 * The DeliveryError for a 401 or 403, from what the server said (`text`, already extracted from its body) and
 * what this client signed. Pusher's explanations give a clock skew or a signature comparison; other answers
 * keep the general "rejected the credentials" message with a hint that names what to check.
 */
export function rejectionError(status: number, text: string, connectionName: string, request?: SignedRequest): DeliveryError {
  const suffix = text ? `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}` : '';
  const expired = parseTimestampExpired(text);
  if (expired) {
    return new DeliveryError(
      `The server rejected the request's timestamp (HTTP ${status}): this machine's clock is ${describeSkew(expired.skewSeconds)} ` +
        `the server's, and requests must be signed within ${expired.windowSeconds} s of the server's time`,
      { status, hint: CLOCK_FIX, details: { clockSkewSeconds: expired.skewSeconds } },
    );
  }
  const expected = parseExpectedStringToSign(text);
  if (expected !== undefined && request) {
    const differences = compareStringsToSign(request.stringToSign, expected);
    if (differences.length === 0) {
      return new DeliveryError(
        `The server rejected the signature (HTTP ${status}): it expected the same request this client signed (method, path and ` +
          'parameters match), so the secret differs',
        {
          status,
          hint: `Check the secret of connection "${connectionName}" (${connectionFields(connectionName, ['secret'])}): it must be the secret of the app with this key and app id`,
          details: { diagnosis: 'wrong-secret' },
        },
      );
    }
    return new DeliveryError(
      `The server rejected the signature (HTTP ${status}): the request was changed on the way (proxy, path prefix), so the server ` +
        `signed something else: ${differences.map(describeDifference).join('; ')}`,
      {
        status,
        hint:
          'Something between this machine and the server (a reverse proxy, a load balancer, a path prefix) rewrote the request. ' +
          `Point connection "${connectionName}" (${connectionFields(connectionName, ['host', 'port', 'scheme'])}) at the Pusher API itself, or make the proxy pass ` +
          'the path, query and body unchanged',
        details: { diagnosis: 'request-changed', differences },
      },
    );
  }
  if (/unknown auth_key/i.test(text)) {
    return new DeliveryError(`The server does not know the app key (HTTP ${status})${suffix}`, {
      status,
      hint: `Check the key of connection "${connectionName}" (PUSHER_APP_KEY): it must be the app's key, not its app id`,
    });
  }
  if (status === 403 && /quota|disabled|limit/i.test(text)) {
    return new DeliveryError(`The server refused the request (HTTP 403)${suffix}`, {
      status,
      hint: 'Pusher Channels answers 403 when the app is disabled or over its message quota: check the app in its dashboard',
    });
  }
  return new DeliveryError(`The server rejected the credentials (HTTP ${status})${suffix}`, {
    status,
    hint:
      `Check the app id, key and secret of connection "${connectionName}" (${connectionFields(connectionName, ['appId', 'key', 'secret'])}). ` +
      'soketi and Reverb answer a wrong secret this way without saying more; a proxy that changes the request (a path prefix, a ' +
      're-encoded body) is refused the same way' +
      (status === 403 ? '. Pusher Channels also answers 403 for a disabled app or one over its message quota' : ''),
  });
}

/**
 * The messages of a validation answer (Laravel Reverb's 422): `{"data":["The data field must be a string."]}` or
 * Laravel's `{"message": …, "errors": {field: [messages]}}`, as `data: The data field must be a string.`;
 * undefined when the body has no such fields.
 */
export function validationMessages(body: string | undefined): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  const fields = typeof record.errors === 'object' && record.errors !== null && !Array.isArray(record.errors) ? (record.errors as Record<string, unknown>) : record;
  const parts = Object.entries(fields)
    .filter((entry): entry is [string, unknown[]] => Array.isArray(entry[1]) && entry[1].length > 0)
    .map(([field, messages]) => `${field}: ${messages.map(String).join(' ')}`);
  if (parts.length === 0) return typeof record.message === 'string' ? record.message : undefined;
  const text = parts.join('; ');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/**
 * The error for a 422 (Laravel Reverb's answer when a field of the request fails its validation): code `invalid`
 * (exit 2), as for input refused before sending, since sending it again unchanged cannot succeed; the server's
 * messages name the fields.
 */
export function unprocessableError(body: string | undefined, fallback: string): DeliveryError {
  const said = validationMessages(body) ?? fallback;
  return new DeliveryError(`The server refused the request as invalid (HTTP 422)${said ? `: ${said}` : ''}`, {
    status: 422,
    code: 'invalid',
    hint:
      'Nothing was delivered, and the same request would be refused again. Laravel Reverb answers 422 when a field of the request ' +
      'fails its checks; the message names the fields',
  });
}
