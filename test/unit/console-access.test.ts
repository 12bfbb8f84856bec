/** Who may use the console's server (src/cli/console/access.ts): the token, the Host and the Origin. */
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { allowedHosts, isLoopback, newToken, refusal } from '../../src/cli/console/access.js';

describe('console access', () => {
  const token = newToken();
  const hosts = allowedHosts('127.0.0.1', 4000);

  it('tokens are random, URL-safe and 32 characters long', () => {
    expect(token).toMatch(/^[\w-]{32}$/);
    expect(newToken()).not.toBe(token);
  });

  it('lets through the bound address and localhost, with the token', () => {
    expect(refusal({ host: '127.0.0.1:4000', token }, { token, hosts })).toBeUndefined();
    expect(refusal({ host: 'LOCALHOST:4000', origin: 'http://localhost:4000', token }, { token, hosts })).toBeUndefined();
    expect(refusal({ host: '[::1]:4000', token }, { token, hosts })).toBeUndefined();
  });

  it.each([
    [{ host: '127.0.0.1:4000' }, 'missing or wrong token'],
    [{ host: '127.0.0.1:4000', token: `${token}x` }, 'missing or wrong token'],
    [{ host: '127.0.0.1:4000', token: '' }, 'missing or wrong token'],
    [{ token }, 'unexpected Host header'],
    [{ host: 'attacker.example:4000', token }, 'unexpected Host header'],
    [{ host: '127.0.0.1:4001', token }, 'unexpected Host header'],
    [{ host: '127.0.0.1:4000', origin: 'http://attacker.example:4000', token }, 'unexpected Origin header'],
    [{ host: '127.0.0.1:4000', origin: 'null', token }, 'unexpected Origin header'],
    [{ host: '127.0.0.1:4000', origin: 'https://127.0.0.1:4000', token }, 'unexpected Origin header'],
  ])('refuses %j: %s', (request, reason) => {
    expect(refusal(request, { token, hosts })).toBe(reason);
  });

  it('bound to every interface, it answers to each of this machine\'s addresses, and to no name', () => {
    const wildcard = allowedHosts('0.0.0.0', 4000);
    const addresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address));
    for (const address of addresses) {
      const host = address.includes(':') ? `[${address}]:4000` : `${address}:4000`;
      expect(refusal({ host, token }, { token, hosts: wildcard })).toBeUndefined();
    }
    expect(refusal({ host: 'attacker.example:4000', token }, { token, hosts: wildcard })).toBe('unexpected Host header');
  });

  it('tells loopback addresses from the others', () => {
    expect(['127.0.0.1', 'localhost', '::1', '[::1]', '127.1.2.3'].map(isLoopback)).toEqual([true, true, true, true, true]);
    expect(['0.0.0.0', '192.168.1.10', '::', 'example.com'].map(isLoopback)).toEqual([false, false, false, false]);
  });
});
