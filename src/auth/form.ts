/**
 * The request's fields (`socket_id`, `channel_name`): from a form-encoded body (what pusher-js sends), a JSON
 * body, or what an Express/Connect body parser already read. Malformed input becomes a 4xx answer, never a throw.
 */
import type { IncomingMessage } from 'node:http';
import { failure, type AuthorizeFailure } from './authorize.js';

export type Fields = Record<string, unknown>;
export type ParsedFields = { ok: true; fields: Fields } | AuthorizeFailure;

/** A field the body itself carries (never one inherited from Object.prototype). */
export function field(fields: Fields, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(fields, name) ? fields[name] : undefined;
}

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(header: unknown): string {
  if (typeof header !== 'string') return '';
  if (header === FORM || header === JSON_TYPE) return header;
  const semicolon = header.indexOf(';');
  return (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
}

/** Whether a media type is form-encoded, or JSON (`application/json` or any `+json` type). */
export const isForm = (type: string) => type === FORM;
export const isJson = (type: string) => type === JSON_TYPE || /^application\/[a-z0-9.+-]+\+json$/.test(type);

/** The fields an Express/Connect body parser (express.urlencoded(), express.json()) already read, if one did. */
export function preParsedFields(req: IncomingMessage): ParsedFields | undefined {
  const preParsed = (req as { body?: unknown }).body;
  if (preParsed === undefined) return undefined;
  if ((req as { _body?: unknown })._body !== true && !req.readableEnded) return undefined;
  if (typeof preParsed === 'string' || Buffer.isBuffer(preParsed)) return parseBody(mediaType(req.headers['content-type']), String(preParsed));
  if (preParsed !== null && typeof preParsed === 'object' && !Array.isArray(preParsed)) return { ok: true, fields: preParsed as Fields };
  return failure(400, 'invalid_request', 'The body must be an object with socket_id and channel_name');
}

export function unsupported(type: string): AuthorizeFailure {
  if (type === '') return failure(415, 'unsupported_media_type', 'Missing Content-Type: send application/x-www-form-urlencoded or application/json');
  return failure(415, 'unsupported_media_type', `Unsupported content type ${JSON.stringify(type.slice(0, 100))}: send application/x-www-form-urlencoded or application/json`);
}
export function parseBody(type: string, text: string): ParsedFields {
  if (text.length === 0 || text.trim() === '') return { ok: true, fields: {} };
  if (isForm(type)) return { ok: true, fields: parseForm(text) };
  if (isJson(type)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return failure(400, 'invalid_request', 'The body is not valid JSON');
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return failure(400, 'invalid_request', 'The JSON body must be an object with socket_id and channel_name');
    }
    const repeated = duplicateKey(text);
    if (repeated !== undefined) {
      return failure(400, 'invalid_request', `The JSON body has the key ${JSON.stringify(repeated.slice(0, 100))} more than once`);
    }
    return { ok: true, fields: value as Fields };
  }
  return unsupported(type);
}

/** `socket_id` and `channel_name` of a form body; a repeated field (`socket_id=1.1&socket_id=2.2`) becomes a list, which the checks refuse. */
function parseForm(text: string): Fields {
  const fields: Fields = {};
  if (text.includes('%') || text.includes('+')) {
    for (const [key, value] of new URLSearchParams(text)) {
      if (key === 'socket_id' || key === 'channel_name') addField(fields, key, value);
    }
    return fields;
  }
  // Nothing to decode (what pusher-js sends): split by hand, as URLSearchParams would. `equals` only moves
  // forward, so a long body without any `=` is still scanned once.
  let equals = -1;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('&', start);
    if (end === -1) end = text.length;
    if (end > start) {
      if (equals !== Infinity && equals < start) {
        equals = text.indexOf('=', start);
        if (equals === -1) equals = Infinity;
      }
      const key = equals < end ? text.slice(start, equals) : text.slice(start, end);
      if (key === 'socket_id' || key === 'channel_name') addField(fields, key, equals < end ? text.slice(equals + 1, end) : '');
    }
    start = end + 1;
  }
  return fields;
}

function addField(fields: Fields, key: string, value: string): void {
  const previous = fields[key];
  fields[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
}

/**
 * The first key that appears twice in one object of a JSON text that JSON.parse accepted, or undefined.
 * JSON.parse keeps the last of two equal keys, while a proxy or firewall in front of the route may read the
 * first: `{"channel_name":"private-a","channel_name":"private-b"}` must not be signed for either, as a repeated
 * form field is not. JSON.parse (and a reviver) cannot see duplicates, so the text is scanned: one pass, no
 * recursion, keys compared after unescaping (`"channel\u005fname"` is `channel_name`).
 */
export function duplicateKey(text: string): string | undefined {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      while (end < text.length) {
        const d = text.charCodeAt(end);
        if (d === 0x5c /* \ */) {
          escaped = true;
          end += 2;
        } else if (d === 0x22) break;
        else end++;
      }
      if (expectKey) {
        const key = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
        const keys = open[open.length - 1]!;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      open.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = open[open.length - 1] != null;
    }
  }
  return undefined;
}
