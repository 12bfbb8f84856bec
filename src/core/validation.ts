/** Pusher's documented limits, and the checks every request passes before it is sent. */
import { DEFAULTS } from '../config/defaults.js';
import { ValidationError } from './errors.js';

export const LIMITS = {
  channelNameLength: 164,
  eventNameLength: 200,
  channelsPerTrigger: 100,
  eventsPerBatch: 10,
  defaultMaxPayloadKb: DEFAULTS.maxPayloadKb,
} as const;

const CHANNEL_NAME = /^[A-Za-z0-9_\-=@,.;]+$/;
const SOCKET_ID = /^\d+\.\d+$/;

/** Why a channel name is invalid, or `undefined` when it is fine. `maxLength`: the server's (Pusher's by default). */
export function channelNameProblem(name: unknown, maxLength: number = LIMITS.channelNameLength): string | undefined {
  if (typeof name !== 'string' || name === '') return 'a channel name must be a non-empty string';
  if (name.length > maxLength) {
    return `it is ${name.length} characters long; the limit is ${maxLength}`;
  }
  if (!CHANNEL_NAME.test(name)) {
    const bad = [...new Set([...name].filter((c) => !CHANNEL_NAME.test(c)))]
      .map((c) => JSON.stringify(c))
      .join(', ');
    return `it contains ${bad}; allowed are A-Z a-z 0-9 _ - = @ , . ;`;
  }
  return undefined;
}

export function validateChannelName(name: unknown, maxLength?: number): string {
  const problem = channelNameProblem(name, maxLength);
  if (problem) {
    throw new ValidationError(`Invalid channel name ${JSON.stringify(name)}: ${problem}`);
  }
  return name as string;
}

export function validateEventName(name: unknown, maxLength: number = LIMITS.eventNameLength): string {
  if (typeof name !== 'string' || name === '') {
    throw new ValidationError('Invalid event name: it must be a non-empty string');
  }
  if (name.length > maxLength) {
    throw new ValidationError(
      `Invalid event name: it is ${name.length} characters long; the limit is ${maxLength}`,
    );
  }
  if (name.startsWith('pusher:') || name.startsWith('pusher_internal:')) {
    throw new ValidationError(`Invalid event name "${name}": the "pusher:" prefix is reserved`);
  }
  return name;
}

export function isValidSocketId(socketId: unknown): socketId is string {
  return typeof socketId === 'string' && SOCKET_ID.test(socketId);
}

export function validateSocketId(socketId: unknown): string {
  if (!isValidSocketId(socketId)) {
    throw new ValidationError(
      `Invalid socket id ${JSON.stringify(socketId)}: it must look like "1234.5678" (digits.digits)`,
    );
  }
  return socketId;
}

/** The payload as Pusher sends it: strings as they are, anything else as JSON. */
export function serializePayload(data: unknown): string {
  if (typeof data === 'string') return data;
  const json = JSON.stringify(data ?? {});
  if (json === undefined) throw new ValidationError('The event data cannot be serialized to JSON');
  return json;
}

/**
 * What a value turned into text leaves in a channel name when a field it was built from is missing or odd:
 * `undefined` (anywhere: `orders.undefined`, `user42undefined`), `null` and `NaN` (as a whole word:
 * `orders.null`, not `nullable`), and `[object Object]` (an object in a template).
 */
const RENDERED_MISSING = /\[object [A-Za-z]+\]|undefined|(?<![A-Za-z0-9])(?:null|NaN)(?![A-Za-z0-9])/;

/**
 * The mark a missing or odd field left in a channel name rendered from an event (`"undefined"` for
 * `private-orders.undefined`), or `undefined` when the name shows none. Only for names built from an event's
 * fields: a name typed as such is the user's choice.
 */
export function missingFieldMark(name: string): string | undefined {
  return RENDERED_MISSING.exec(name)?.[0];
}

/**
 * Bytes of the data an encrypted channel carries for `bytes` of plain data: `{"nonce":"…","ciphertext":"…"}` with
 * a 24-byte nonce and the NaCl secretbox (16 bytes longer than the text), both base64.
 */
export function encryptedPayloadBytes(bytes: number): number {
  const base64 = (n: number) => 4 * Math.ceil(n / 3);
  return '{"nonce":"","ciphertext":""}'.length + base64(24) + base64(bytes + 16);
}

/**
 * Throws when the serialized payload is larger than the connection allows; `encrypted`: the limit applies to
 * what the server receives, the encrypted form (about 4/3 of the data).
 */
export function validatePayloadSize(data: unknown, maxPayloadKb: number = LIMITS.defaultMaxPayloadKb, encrypted = false): number {
  const plain = Buffer.byteLength(serializePayload(data));
  const bytes = encrypted ? encryptedPayloadBytes(plain) : plain;
  const limit = maxPayloadKb * 1024;
  if (bytes > limit) {
    throw new ValidationError(
      encrypted
        ? `The event data is ${plain} bytes, ${bytes} once encrypted for a private-encrypted- channel; the limit for this connection is ${limit} bytes (${maxPayloadKb} KB)`
        : `The event data is ${bytes} bytes; the limit for this connection is ${limit} bytes (${maxPayloadKb} KB)`,
      {
        hint:
          'Send less data (an id the client can fetch), or raise the limit if your server allows more: the connection\'s ' +
          'maxPayloadKb, or on the command line --max-payload-kb or BROADCAST_MAX_PAYLOAD_KB.',
      },
    );
  }
  return bytes;
}

/**
 * The `info` attributes a trigger can ask for (the HTTP API's `info` parameter on `/events` and `/batch_events`):
 * counts the server returns with its answer. Pusher Channels counts such a request as two messages.
 */
export const TRIGGER_INFO_ATTRIBUTES = ['user_count', 'subscription_count'] as const;

export type TriggerInfoAttribute = (typeof TRIGGER_INFO_ATTRIBUTES)[number];

/**
 * Checks the `info` attributes of a trigger to `channels` and returns them as the API takes them
 * (`"user_count,subscription_count"`). Throws a ValidationError for an unknown attribute, and for `user_count`
 * when a channel is not a presence channel (only presence channels have users; Pusher refuses it otherwise).
 */
export function validateTriggerInfo(info: string | readonly string[], channels: readonly string[]): string {
  const attributes = [...new Set((typeof info === 'string' ? info.split(',') : info).map((a) => a.trim()))];
  const unknown = attributes.filter((a) => !(TRIGGER_INFO_ATTRIBUTES as readonly string[]).includes(a));
  if (attributes.length === 0 || unknown.length > 0) {
    throw new ValidationError(`Unknown info attribute${unknown.length > 1 ? 's' : ''} ${unknown.map((a) => JSON.stringify(a)).join(', ') || '(none given)'}`, {
      hint: `A trigger can ask for ${TRIGGER_INFO_ATTRIBUTES.join(', ')}`,
    });
  }
  if (attributes.includes('user_count')) {
    // Checked by prefix here (not channelType, to keep this module free of channel types): presence- only.
    const other = channels.find((c) => !c.startsWith('presence-'));
    if (other !== undefined) {
      throw new ValidationError(`The info attribute user_count applies to presence channels only, and "${other}" is not one`, {
        hint: 'Ask for subscription_count (connections) instead, or send to presence- channels only',
        details: { channel: other },
      });
    }
  }
  return attributes.join(',');
}

/** Splits `items` into arrays of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Bytes an HTTP API request spends beside its body: request line, signed query string, headers (an upper bound). */
const REQUEST_OVERHEAD_BYTES = 512;

/**
 * Servers that limit the whole request (Reverb: 10,000 bytes by default) refuse an event whose data alone
 * fits: checked per request (channel group) before anything is sent.
 */
export function validateRequestSize(event: string, data: unknown, groups: string[][], socketId: string | undefined, requestBytes: number, server = 'the server'): void {
  const payload = serializePayload(data);
  for (const channels of groups) {
    const body = Buffer.byteLength(JSON.stringify({ name: event, data: payload, channels, ...(socketId ? { socket_id: socketId } : {}) }));
    if (body + REQUEST_OVERHEAD_BYTES > requestBytes) {
      throw new ValidationError(
        `The request would be about ${body + REQUEST_OVERHEAD_BYTES} bytes (${body} of body for ${channels.length} channel${channels.length === 1 ? '' : 's'}); ${server} accepts at most ${requestBytes} per request`,
        { hint: 'Send smaller data or to fewer channels at once, or raise the server\'s limit and the connection\'s limits.requestBytes' },
      );
    }
  }
}
