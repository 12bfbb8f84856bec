/**
 * `broadcast webhook:send <url> --event <kind> --channel <name>`: posts a correctly signed sample webhook
 * (as Pusher would send it, with the connection's key and secret) to an application's endpoint, and reports
 * what it answered. Exit 0 for a 2xx answer, 1 otherwise.
 */
import { channelType } from '../../core/channels.js';
import { ConfigError, DeliveryError, UsageError } from '../../core/errors.js';
import { validateChannelName, validateSocketId } from '../../core/validation.js';
import type { Webhook, WebhookEvent } from '../../webhook/verify.js';
import { WEBHOOK_EVENT_NAMES, type PusherWebhookEventName } from '../../webhook/events.js';
import { defineCommand } from '../command.js';
import { openBroadcast, type NetworkOptions } from '../context.js';
import { readJsonOption } from '../input.js';
import { parseHttpUrl, post, snippet } from '../post.js';
import { randomSocketId } from './auth-sign.js';

export interface WebhookSendOptions extends NetworkOptions {
  event: string;
  channel: string;
  userId?: string;
  clientEvent?: string;
  data?: string;
  socketId?: string;
  subscriptionCount?: number;
}

export interface WebhookSendResult {
  url: string;
  connection: string;
  /** The endpoint's HTTP status; absent when it did not answer. */
  status?: number;
  /** The start of the endpoint's answer. */
  response?: string;
  /** What was sent, in Pusher's wire format. */
  webhook: Webhook;
}

/** Which flag applies to which kinds. */
const FLAGS: Record<'userId' | 'clientEvent' | 'data' | 'socketId' | 'subscriptionCount', { flag: string; kinds: PusherWebhookEventName[] }> = {
  userId: { flag: '--user-id', kinds: ['member_added', 'member_removed', 'client_event'] },
  clientEvent: { flag: '--client-event', kinds: ['client_event'] },
  data: { flag: '--data', kinds: ['client_event'] },
  socketId: { flag: '--socket-id', kinds: ['client_event'] },
  subscriptionCount: { flag: '--subscription-count', kinds: ['subscription_count'] },
};

export default defineCommand<WebhookSendResult>({
  async run(ctx, target: string, options: WebhookSendOptions) {
    // All input is checked before anything is sent.
    const url = parseHttpUrl(target, 'The webhook endpoint URL');
    const kind = options.event as PusherWebhookEventName;
    if (!WEBHOOK_EVENT_NAMES.includes(kind)) {
      throw new UsageError(`Unknown webhook --event ${JSON.stringify(options.event)}`, { hint: `One of: ${WEBHOOK_EVENT_NAMES.join(', ')}` });
    }
    for (const [option, { flag, kinds }] of Object.entries(FLAGS)) {
      if (options[option as keyof typeof FLAGS] !== undefined && !kinds.includes(kind)) {
        throw new UsageError(`${flag} does not apply to ${kind} webhooks`, { hint: `${flag} goes with --event ${kinds.join(' or ')}` });
      }
    }
    const channel = validateChannelName(options.channel);
    const type = channelType(channel);
    const event: WebhookEvent = { name: kind, channel };
    if (kind === 'member_added' || kind === 'member_removed') {
      if (type !== 'presence') throw new UsageError(`${kind} webhooks are for presence channels: "${channel}" is a ${type} channel`, { hint: `--channel presence-${channel}` });
      if (options.userId === undefined || options.userId === '') throw new UsageError(`${kind} needs --user-id <id>: the member who joined or left`);
      event.user_id = options.userId;
    } else if (kind === 'client_event') {
      if (type === 'public') throw new UsageError(`Client events are sent on private and presence channels only: "${channel}" is public`, { hint: `--channel private-${channel}` });
      if (options.userId !== undefined && type !== 'presence') throw new UsageError('--user-id applies to client events on presence channels only');
      const name = options.clientEvent ?? 'client-test';
      if (!name.startsWith('client-')) throw new UsageError(`--client-event must start with "client-", as client events do: ${JSON.stringify(name)}`);
      event.event = name;
      event.data = JSON.stringify(await readJsonOption(ctx, options.data ?? '{}', '--data'));
      event.socket_id = options.socketId === undefined ? randomSocketId() : validateSocketId(options.socketId);
      // Pusher names the sender on presence channels.
      if (type === 'presence') event.user_id = options.userId ?? 'webhook-send';
    } else if (kind === 'subscription_count') {
      event.subscription_count = options.subscriptionCount ?? 1;
    }

    const broadcast = await openBroadcast(ctx, options);
    const { name: connection, connection: settings } = broadcast.resolved;
    broadcast.close();
    if (settings.driver !== 'pusher' || !settings.secret) {
      const why = settings.driver === 'pusher' ? 'has no app secret' : `uses the ${settings.driver} driver, which has no app key and secret,`;
      throw new ConfigError(`Connection "${connection}" ${why} to sign a webhook with`, {
        hint: 'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (the application checks the webhook against them), or pick a connection with --connection',
      });
    }
    if (kind === 'client_event' && type === 'encrypted') {
      if (!settings.encryptionMasterKeyBase64) {
        throw new ConfigError(`Channel "${channel}" is encrypted, but connection "${connection}" has no encryptionMasterKeyBase64 to encrypt the sample's data with`, {
          hint: 'Set PUSHER_ENCRYPTION_MASTER_KEY_BASE64',
        });
      }
      const { encryptPayload } = await import('../../webhook/crypto.js');
      event.data = encryptPayload(channel, String(settings.encryptionMasterKeyBase64), event.data as string);
    }

    const webhook: Webhook = { time_ms: Date.now(), events: [event] };
    const body = JSON.stringify(webhook);
    const { webhookSignature } = await import('../../webhook/verify.js');
    const key = String(settings.key);
    const result: WebhookSendResult = { url: url.href, connection, webhook };
    const answer = await post(url, {
      headers: { 'Content-Type': 'application/json', 'X-Pusher-Key': key, 'X-Pusher-Signature': webhookSignature(body, String(settings.secret)) },
      body,
      timeoutMs: options.timeout,
      signal: ctx.signal,
    }).catch((error: unknown) => {
      if (error instanceof DeliveryError) return error;
      throw error;
    });
    if (answer instanceof DeliveryError) return { result, error: answer };
    result.status = answer.status;
    if (answer.text) result.response = snippet(answer.text, 500);
    if (answer.status >= 200 && answer.status < 300) return { result };
    return {
      result,
      error: new DeliveryError(`The endpoint answered HTTP ${answer.status}${answer.text ? `: ${snippet(answer.text)}` : ''}`, {
        status: answer.status,
        hint: answer.status === 401 || answer.status === 403
          ? `It refused the signature: does it check webhooks against app key ${key} and this connection's secret?`
          : 'The endpoint did not accept the webhook; its answer is above',
      }),
    };
  },

  render(io, { url, status, webhook }) {
    const event = webhook.events[0]!;
    io.out(`${status !== undefined && status >= 200 && status < 300 ? io.style.green('✓') : io.style.red('✗')} ${event.name} ${event.channel} → ${url}${status !== undefined ? `: HTTP ${status}` : ''}`);
  },
});
