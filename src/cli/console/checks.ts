/**
 * The console's health checks, shown in its header: the config (what loading it found), then doctor's checks
 * of the server (src/cli/checks.ts): the server answering HTTP, the credentials accepted by a signed API call,
 * a WebSocket subscription to a private channel, and the round trip of an event. Each later check needs the
 * earlier ones.
 */
import type { Broadcast } from '../../core/broadcast.js';
import type { PusherConnection } from '../../config/schema.js';
import { runSteps, SERVER_STEPS, type Check } from '../checks.js';

export interface CheckInput {
  broadcast: Broadcast;
  /** What the config check found (`loaded broadcast.config.ts`, …). */
  configDetail: string;
  /** The private channels the checks use start with this (the follower ignores them). */
  probePrefix: string;
  timeoutMs: number;
}

const STEPS = [SERVER_STEPS.server, SERVER_STEPS.credentials, SERVER_STEPS.websocket, SERVER_STEPS.roundtrip];

/** Runs every check in order; never throws. */
export async function runChecks(input: CheckInput): Promise<Check[]> {
  const { broadcast, timeoutMs } = input;
  const found = { broadcast, connection: broadcast.resolved.connection as PusherConnection, connectionName: broadcast.resolved.name };
  const options = { timeoutMs, signal: new AbortController().signal, probe: { channelPrefix: input.probePrefix, event: 'broadcast.console' } };
  const { checks, found: after } = await runSteps(STEPS, options, found);
  after.websocket?.subscriber.disconnect();
  return [{ name: 'config', status: 'pass', detail: input.configDetail }, ...checks];
}
