import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, test } from '../helpers/fixtures.js';
import { Channel, PresenceChannel, PrivateChannel } from '../../src/core/channels.js';
import { CanBroadcast } from '../../src/core/events.js';
import { describeEvent, loadRegistry } from '../../src/cli/registry.js';

describe('describeEvent', () => {
  test('a static channel is resolved as is', () => {
    class Pinged extends CanBroadcast {
      broadcastOn() {
        return new Channel('status');
      }
    }
    expect(describeEvent(Pinged)).toEqual({ as: 'Pinged', channels: ['status'], patterns: ['status'], channelTypes: ['public'], dynamic: false });
  });

  test('a name built from a payload field: resolved with an empty payload, marked, and shown with {field}', () => {
    class OrderShipped extends CanBroadcast {
      declare orderId: number;
      broadcastOn() {
        return [new PrivateChannel(`orders.${this.orderId}`), new Channel('dashboard')];
      }
      override broadcastAs() {
        return 'order.shipped';
      }
    }
    expect(describeEvent(OrderShipped)).toEqual({
      as: 'order.shipped',
      channels: ['private-orders.undefined', 'dashboard'],
      patterns: ['private-orders.{orderId}', 'dashboard'],
      channelTypes: ['private', 'public'],
      dynamic: true,
    });
  });

  test('a nested field that throws with an empty payload is still described', () => {
    class Joined extends CanBroadcast {
      declare room: { id: string };
      broadcastOn() {
        return new PresenceChannel(`room.${this.room.id}`);
      }
    }
    const d = describeEvent(Joined);
    expect(d).toMatchObject({ channels: [], patterns: ['presence-room.{room.id}'], channelTypes: ['presence'], dynamic: true });
    expect(d.error).toMatch(/^broadcastOn\(\) failed with an empty payload: /);
  });

  test('a channel chosen by a condition on the payload is dynamic', () => {
    class Flagged extends CanBroadcast {
      declare admin?: boolean;
      broadcastOn() {
        return this.admin ? 'admins' : 'users';
      }
    }
    expect(describeEvent(Flagged)).toMatchObject({ channels: ['users'], dynamic: true });
  });

  test('a field with an initialiser is not mistaken for payload', () => {
    class Lobby extends CanBroadcast {
      room = 'lobby';
      broadcastOn() {
        return `room.${this.room}`;
      }
    }
    expect(describeEvent(Lobby)).toMatchObject({ channels: ['room.lobby'], dynamic: false });
  });

  test('a constructor that rejects an empty payload is reported, channels still probed', () => {
    class Strict extends CanBroadcast {
      declare id: number;
      constructor(payload: { id?: number } = {}) {
        if (payload.id === undefined) throw new Error('id is required');
        super(payload);
      }
      broadcastOn() {
        return new PrivateChannel(`things.${this.id}`);
      }
    }
    const d = describeEvent(Strict);
    expect(d.error).toBe('new Strict({}) failed with an empty payload: id is required');
    expect(d).toMatchObject({ patterns: ['private-things.{id}'], dynamic: true });
  });
});

describe('loadRegistry', () => {
  test('registers the event classes exported by ES and CommonJS modules in the events folder', async ({ project }) => {
    const { dir } = project;
    await mkdir(path.join(dir, 'src/events'), { recursive: true });
    const event = (name: string) => `class ${name} { broadcastOn() { return 'status'; } }`;
    await writeFile(path.join(dir, 'src/events/Pinged.mjs'), `export ${event('Pinged')}\n`);
    await writeFile(path.join(dir, 'src/events/Ponged.cjs'), `${event('Ponged')}\nmodule.exports = { Ponged };\n`);
    await writeFile(path.join(dir, 'src/events/Pulsed.cts'), `${event('Pulsed')}\nmodule.exports = { Pulsed };\n`);
    const registry = await loadRegistry({}, { baseDir: dir });
    expect(registry.errors).toEqual([]);
    expect(registry.events.map((e) => e.name)).toEqual(['Pinged', 'Ponged', 'Pulsed']);
  });
});
