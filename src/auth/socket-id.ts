/**
 * The sender's socket id from a request, for "send to others": Laravel Echo adds an `X-Socket-ID` header to
 * the app's own requests (its axios, jQuery, Vue and Turbo interceptors), and Laravel's `toOthers()` reads it.
 */
import { isValidSocketId } from '../core/validation.js';

/** Header values as Node (`IncomingMessage.headers`) or a plain object holds them. */
export type HeaderRecord = Record<string, string | readonly string[] | number | undefined>;

/** Anything with headers: a Node or Express request, a Fetch `Request`, a `Headers`, or a plain headers object. */
export type SocketIdSource =
  | { headers: HeaderRecord | { get(name: string): string | null } }
  | { get(name: string): string | null }
  | HeaderRecord;

const HEADER = 'x-socket-id';

/** The header's value in a plain object, whatever the case of its name. */
function fromRecord(headers: HeaderRecord): unknown {
  if (HEADER in headers) return headers[HEADER];
  for (const name of Object.keys(headers)) if (name.toLowerCase() === HEADER) return headers[name];
  return undefined;
}

/**
 * The `X-Socket-ID` header of a request, when it holds a well-formed socket id (`1234.5678`); undefined when
 * the header is absent, repeated, or anything else, so a missing or forged header never fails the send:
 *
 * ```ts
 * await broadcast.channel('orders', 'order.shipped', data, { socketId: socketIdFrom(req) });  // not to the sender
 * ```
 */
export function socketIdFrom(source: SocketIdSource | null | undefined): string | undefined {
  if (source === null || typeof source !== 'object') return undefined;
  let headers: unknown = source;
  // A request: its headers. (A plain headers object with a header named "headers" holds a string there.)
  if ('headers' in source && source.headers !== null && typeof source.headers === 'object') headers = source.headers;
  let value: unknown;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    try {
      value = (headers as { get(name: string): unknown }).get(HEADER);
    } catch {
      return undefined;
    }
  } else {
    value = fromRecord(headers as HeaderRecord);
  }
  if (Array.isArray(value)) value = value.length === 1 ? value[0] : undefined;
  if (typeof value !== 'string') return undefined;
  const socketId = value.trim();
  return isValidSocketId(socketId) ? socketId : undefined;
}
