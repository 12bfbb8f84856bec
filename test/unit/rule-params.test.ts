/**
 * Typed `params` for channel rules: `defineConfig` (and `compileRules`) type each rule's params from the
 * `{placeholders}` of its key. The type assertions here are checked by `npm run typecheck`: a
 * `@ts-expect-error` line that stops erroring, or an `expectTypeOf` that no longer holds, fails it.
 */
import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { compileRules, matchRule } from '../../src/auth/rules.js';
import { Broadcast } from '../../src/core/broadcast.js';
import {
  defineConfig,
  type BroadcastConfig,
  type BroadcastUser,
  type ChannelRule,
  type ChannelRuleOptions,
  type ChannelRuleParams,
} from '../../src/config/schema.js';
import { initDefaults, renderConfig } from '../../src/cli/scaffold.js';
import { ROOT } from '../helpers/cli.js';
import { test } from '../helpers/fixtures.js';

const env = { PUSHER_APP_ID: '1', PUSHER_APP_KEY: '278d425bdf160c739803', PUSHER_APP_SECRET: '7ad3773142a6692b25b8' };

describe('typed rule params (compile time)', () => {
  it('defineConfig types params from each key, in both rule forms', () => {
    const config = defineConfig({
      channels: {
        'orders.{orderId}.items.{itemId}': (user, params) => {
          expectTypeOf(user).toEqualTypeOf<BroadcastUser>();
          expectTypeOf(params).toEqualTypeOf<{ orderId: string; itemId: string }>();
          // @ts-expect-error a misspelt placeholder is a compile error
          void params.orderID;
          return params.orderId === params.itemId;
        },
        'status': (_user, params) => {
          expectTypeOf(params).toEqualTypeOf<Record<never, string>>();
          // @ts-expect-error a pattern without placeholders has no params
          void params.anything;
          return true;
        },
        'chat.{roomId}': {
          type: 'presence',
          authorize: (user, { roomId }) => {
            expectTypeOf(roomId).toEqualTypeOf<string>();
            return { id: user.id, room: roomId };
          },
        },
        'docs.{docId}.*': {
          authorize: async (_user, params) => {
            expectTypeOf(params).toEqualTypeOf<{ docId: string }>();
            // @ts-expect-error the object form checks names too
            return params.docID === '1';
          },
        },
      },
    });
    expectTypeOf(config).toEqualTypeOf<BroadcastConfig>();
  });

  it('ChannelRuleParams and ChannelRule<Pattern> name the same types', () => {
    expectTypeOf<ChannelRuleParams<'a.{x}.b.{y}'>>().toEqualTypeOf<{ x: string; y: string }>();
    expectTypeOf<ChannelRuleParams<'a.*'>>().toEqualTypeOf<Record<never, string>>();
    expectTypeOf<ChannelRuleParams>().toEqualTypeOf<Record<string, string>>();
    expectTypeOf<Parameters<ChannelRule<'orders.{orderId}'>>[1]>().toEqualTypeOf<{ orderId: string }>();
    expectTypeOf<ChannelRuleOptions<'orders.{orderId}'>['authorize']>().toEqualTypeOf<ChannelRule<'orders.{orderId}'>>();
  });

  it('rules declared without a pattern, and configs written without defineConfig, still compile', () => {
    const loose: ChannelRule = (user, params) => {
      expectTypeOf(params).toEqualTypeOf<Record<string, string>>();
      return user.id === Number(params.orderId);
    };
    const forOrders: ChannelRule<'orders.{orderId}'> = (user, { orderId }) => String(user.id) === orderId;
    const plain: BroadcastConfig = {
      channels: {
        'orders.{orderId}': (_user, params) => {
          expectTypeOf(params).toEqualTypeOf<Record<string, string>>();
          return params.orderId !== undefined;
        },
        'loose.{orderId}': loose,
        'typed.{orderId}': forOrders,
        'presence.{id}': { type: 'presence', authorize: loose },
      },
    };
    const typed = defineConfig({
      ...plain,
      channels: { 'orders.{orderId}': loose, 'x.{orderId}': forOrders, 'y': { authorize: loose } },
    });
    defineConfig({
      channels: {
        // @ts-expect-error a rule typed for one pattern does not fit a key with other placeholders
        'invoices.{invoiceId}': forOrders,
      },
    });
    expect(new Broadcast(typed, { env }).config).toBe(typed);
  });

  it('compileRules types an object literal the same way', () => {
    compileRules({
      'a.{x}.{y}': (_user, params) => {
        expectTypeOf(params).toEqualTypeOf<{ x: string; y: string }>();
        // @ts-expect-error
        return params.z === '1';
      },
    });
  });
});

describe('typed rule params (run time)', () => {
  it('a rule with two placeholders receives both values through Broadcast.authorize', async () => {
    const seen: { orderId: string; itemId: string }[] = [];
    const config = defineConfig({
      channels: {
        'orders.{orderId}.items.{itemId}': (user, params) => {
          seen.push(params);
          return String(user.id) === params.orderId;
        },
      },
    });
    const broadcast = new Broadcast(config, { env });
    expect(await broadcast.authorize('1234.1234', 'private-orders.7.items.abc', { id: 7 })).toMatchObject({ ok: true, rule: 'orders.{orderId}.items.{itemId}' });
    expect(await broadcast.authorize('1234.1234', 'private-orders.8.items.x-y', { id: 7 })).toMatchObject({ ok: false, status: 403 });
    expect(seen).toEqual([{ orderId: '7', itemId: 'abc' }, { orderId: '8', itemId: 'x-y' }]);
    expect(matchRule(compileRules(config.channels), 'presence-orders.1.items.2')?.params).toEqual({ orderId: '1', itemId: '2' });
  });

  test("the config `init` writes, with its example rules enabled, type-checks through the package's types, and a typo fails", async ({ project: p }) => {
    await mkdir(path.join(p.dir, 'node_modules/@types'), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules/@types/node'), path.join(p.dir, 'node_modules/@types/node'), 'dir');
    const enabled = renderConfig(initDefaults()).replace(/^(\s*)\/\/ ('[\w.{}]+': .*)$/gm, '$1$2');
    expect(enabled).toContain("    'orders.{orderId}': (user, { orderId }) => String(user.id) === orderId,");
    const tsc = path.join(ROOT, 'node_modules/.bin/tsc');
    const exec = promisify(execFile);
    const check = async (text: string) => {
      await writeFile(path.join(p.dir, 'broadcast.config.ts'), text);
      const args = ['--strict', '--noUncheckedIndexedAccess', '--noEmit', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', 'broadcast.config.ts'];
      return exec(tsc, args, { cwd: p.dir }).then(() => '', (e: { stdout: string }) => e.stdout || 'tsc failed');
    };
    expect(await check(enabled)).toBe('');
    const typo = enabled.replace('(user, { orderId }) => String(user.id) === orderId', '(user, params) => String(user.id) === params.orderID');
    expect(typo).not.toBe(enabled);
    expect(await check(typo)).toMatch(/broadcast\.config\.ts\(\d+,\d+\): error TS2551: Property 'orderID' does not exist/);
  });
});
