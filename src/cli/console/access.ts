/**
 * Who may use the console's HTTP server. Every request must carry the random token printed in the console's
 * URL (`?token=` or the `X-Console-Token` header), compared in constant time; its Host header must name the
 * address the server is bound to (or localhost), and its Origin, when a browser sends one, that same address.
 * The Host and Origin checks stop DNS rebinding: a page on another site whose name resolves to 127.0.0.1
 * reaches the port, but its requests carry its own Host and Origin.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { safeEqual } from '../../auth/sign.js';

/** The header the page sends the token in (EventSource cannot send headers: it uses `?token=`). */
export const TOKEN_HEADER = 'x-console-token';

/** A fresh token: 24 random bytes, URL-safe. */
export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** True for 127.0.0.1, ::1 and localhost: addresses other machines cannot reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** True for 0.0.0.0 and ::, which listen on every interface. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** `host:port` as a Host header writes it (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`.toLowerCase();
}

/**
 * The Host header values the server answers to: the bound host and localhost (with the port), and for a
 * wildcard bind every address of this machine's interfaces.
 */
export function allowedHosts(boundHost: string, port: number): Set<string> {
  const names = new Set<string>(['localhost', '127.0.0.1', '::1']);
  if (isWildcard(boundHost)) {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address);
  } else {
    names.add(boundHost);
  }
  return new Set([...names].map((name) => hostPort(name, port)));
}

export interface AccessRequest {
  host?: string;
  origin?: string;
  /** The token from the query string or the header. */
  token?: string | null;
}

/** Why a request is refused (403), or undefined when it may go on. */
export function refusal(request: AccessRequest, expected: { token: string; hosts: Set<string> }): string | undefined {
  const host = request.host?.toLowerCase();
  if (!host || !expected.hosts.has(host)) return 'unexpected Host header';
  if (request.origin !== undefined && request.origin.toLowerCase() !== `http://${host}`) return 'unexpected Origin header';
  if (!request.token || !safeEqual(request.token, expected.token)) return 'missing or wrong token';
  return undefined;
}
