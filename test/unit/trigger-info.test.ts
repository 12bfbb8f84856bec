/**
 * The HTTP API's `info` on triggers and batch triggers, through the pusher driver: sent in the body, and the
 * counts handed back. Pusher answers it (the fake below answers in Pusher's documented shape); the real soketi
 * 1.6 ignores it, which is no error.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { PusherConnection } from '../../src/config/schema.js';
import { Broadcast } from '../../src/core/broadcast.js';
import { createPusherDriver } from '../../src/transport/pusher.js';
import { pusherFakes } from '../helpers/pusher-fake.js';
import type { SoketiServer } from '../helpers/soketi.js';

const soketi = inject('soketi') as SoketiServer;
const fakes = pusherFakes(afterAll);
const drivers: { close(): void }[] = [];
afterAll(() => drivers.forEach((d) => d.close()));

function driverFor(env: Record<string, string>) {
  const connection: PusherConnection = {
    driver: 'pusher',
    appId: env.PUSHER_APP_ID!,
    key: env.PUSHER_APP_KEY!,
    secret: env.PUSHER_APP_SECRET!,
    host: env.PUSHER_HOST!,
    port: Number(env.PUSHER_PORT),
    scheme: 'http',
  };
  const driver = createPusherDriver('test', connection);
  drivers.push(driver);
  return driver;
}

/** Counts as Pusher gives them: users for presence channels, subscriptions for the others. */
const counts = (channels: string[], info: string) =>
  Object.fromEntries(
    channels.map((c) => [
      c,
      {
        ...(info.includes('user_count') && c.startsWith('presence-') ? { user_count: 2 } : {}),
        ...(info.includes('subscription_count') && !c.startsWith('presence-') ? { subscription_count: 5 } : {}),
      },
    ]),
  );

describe('info on a trigger', () => {
  it('is sent in the body, and the counts Pusher returns come back per channel', async () => {
    const fake = await fakes.server({ triggerInfo: counts });
    const driver = driverFor(fake.env);
    const answer = await driver.trigger({ channels: ['presence-room', 'orders'], event: 'e', data: {}, info: 'user_count,subscription_count' });
    expect(JSON.parse(fake.accepted[0]!.body)).toMatchObject({ info: 'user_count,subscription_count' });
    expect(answer).toEqual({ channels: { 'presence-room': { user_count: 2 }, orders: { subscription_count: 5 } } });
    // Without info, nothing is asked and nothing handed back.
    await expect(driver.trigger({ channels: ['orders'], event: 'e', data: {} })).resolves.toBeUndefined();
    expect(JSON.parse(fake.accepted[1]!.body)).not.toHaveProperty('info');
  });

  it('on a batch: one entry per event, in order', async () => {
    const fake = await fakes.server({ triggerInfo: counts });
    const answer = await driverFor(fake.env).triggerBatch([
      { channel: 'presence-room', event: 'e', data: {}, info: 'user_count' },
      { channel: 'orders', event: 'e', data: {} },
    ]);
    expect(answer).toEqual({ batch: [{ user_count: 2 }, {}] });
    expect((JSON.parse(fake.accepted[0]!.body) as { batch: object[] }).batch).toEqual([
      { channel: 'presence-room', name: 'e', data: '{}', info: 'user_count' },
      { channel: 'orders', name: 'e', data: '{}' },
    ]);
  });

  it('the real soketi ignores it: the event is delivered, and no counts come back', async () => {
    const driver = driverFor(soketi.env);
    await expect(driver.trigger({ channels: ['presence-room'], event: 'e', data: {}, info: 'user_count' })).resolves.toEqual({ channels: {} });
    await expect(driver.triggerBatch([{ channel: 'orders', event: 'e', data: {}, info: 'subscription_count' }])).resolves.toEqual({ batch: [] });
  });

  it('a Broadcast gathers the counts of every request of an event (over 100 channels: two requests), in camelCase', async () => {
    const fake = await fakes.server({ triggerInfo: counts });
    const broadcast = new Broadcast({}, { env: fake.env });
    drivers.push(broadcast);
    const channels = Array.from({ length: 150 }, (_, i) => `presence-r${i}`);
    const result = await broadcast.channel(channels, 'e', {}, { info: 'user_count' });
    expect(result.requests).toBe(2);
    expect(fake.accepted).toHaveLength(2);
    expect(Object.keys(result.info!)).toHaveLength(150);
    expect(result.info!['presence-r149']).toEqual({ userCount: 2 });
  });
});
