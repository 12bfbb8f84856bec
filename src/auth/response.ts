/**
 * The auth route's answers: JSON, written in one writeHead and one end, with the headers every answer carries.
 */
import type { ServerResponse } from 'node:http';

const CONTENT_TYPE = 'application/json; charset=utf-8';

/** Response headers as a flat list (Node's cheapest form for writeHead). */
export function responseHeaders(text: string, allow: string | undefined, close: boolean): (string | number)[] {
  const headers: (string | number)[] = ['content-type', CONTENT_TYPE, 'content-length', Buffer.byteLength(text), 'cache-control', 'no-store'];
  if (allow !== undefined) headers.push('allow', allow);
  if (close) headers.push('connection', 'close');
  return headers;
}

/** Sends a JSON answer in one writeHead and one end (nothing if the response is already gone). */
export function send(res: ServerResponse, result: { status: number; body: unknown }, allow?: string, close = false): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(result.body);
  res.writeHead(result.status, responseHeaders(text, allow, close));
  res.end(text);
}
