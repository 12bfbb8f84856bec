/** The config's own IPv6 check (node:net is not loaded at start-up) agrees with node:net's. */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { isIPv6 } from '../../src/config/schema.js';

describe('isIPv6', () => {
  it.each(['::1', 'fe80::1', '::', '1::', '::ffff:127.0.0.1', '2001:db8::8a2e:370:7334', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1::2::3', '127.0.0.1', 'localhost', '::ffff:999.0.0.1', '12345::', '1:2:3:4:5:6:127.0.0.1', 'g::1', ':1', '1:', 'ws.example.com', ''])(
    '%j as node:net says',
    (text) => {
      expect(isIPv6(text)).toBe(net.isIPv6(text));
    },
  );
});
