/** Redaction covers a secret's JSON-escaped form and every 8-character piece of it, not only the whole value. */
import { describe, expect, it } from 'vitest';
import { redactSecrets, registerSecrets } from '../../src/cli/redact.js';
import { runMain } from '../helpers/main.js';

const SECRET = 'Qv"7\\\\pieceSECRET-xyz'; // holds a quote and a backslash, as a pasted secret may

describe('redaction', () => {
  registerSecrets([SECRET]);

  it('the whole secret, raw and JSON-escaped', () => {
    expect(redactSecrets(`a ${SECRET} b`)).toBe('a [redacted] b');
    expect(redactSecrets(`a ${JSON.stringify(SECRET)} b`)).toBe('a "[redacted]" b');
  });

  it('any 8-character piece of it (10 characters of an excerpt used to get through)', () => {
    for (let i = 0; i + 8 <= SECRET.length; i++) {
      const piece = SECRET.slice(i, i + 8);
      expect(redactSecrets(`…${piece}…`), piece).toBe('…[redacted]…');
    }
    expect(redactSecrets(`x ${SECRET.slice(3, 13)} y`)).toBe('x [redacted] y');
  });

  it('leaves text alone that shares no 8-character piece', () => {
    // 'pieceSEC' is a piece (8 characters); 'SECRET-' is not (7).
    expect(redactSecrets('pieceSEC and SECRET- differ')).toBe('[redacted] and SECRET- differ');
    expect(redactSecrets('orders order.shipped {"id":42}')).toBe('orders order.shipped {"id":42}');
  });

  it('a secret pasted as a channel name comes back redacted in --json, escaped form included', async () => {
    const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: 'key', PUSHER_APP_SECRET: SECRET, PUSHER_HOST: '127.0.0.1', PUSHER_PORT: '9', PUSHER_SCHEME: 'http' };
    const r = await runMain(['emit', SECRET, 'e', '--json'], { env });
    expect(r.code).toBe(2);
    for (const out of [r.stdout, r.stderr]) {
      expect(out).not.toContain(SECRET);
      expect(out).not.toContain(JSON.stringify(SECRET).slice(1, -1));
      for (let i = 0; i + 8 <= SECRET.length; i++) expect(out).not.toContain(SECRET.slice(i, i + 8));
    }
    expect(r.stdout).toContain('[redacted]');
  });
});
