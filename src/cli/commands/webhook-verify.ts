/**
 * `broadcast webhook:verify --signature <hex>`: checks a Pusher webhook body (stdin or --body @file) against
 * the app secret in constant time. Exit 0 valid, 1 when the signature does not match, 2 for bad usage or a
 * body that is signed but is not a webhook.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { connectionFields, listConnections, resolveConnection, secretsOf, type PusherConnection } from '../../config/schema.js';
import { BroadcastError, ConfigError, UsageError, ValidationError } from '../../core/errors.js';
import type { Webhook, WebhookEvent } from '../../webhook/verify.js';
import { defineCommand } from '../command.js';
import { readBytes, type Context } from '../context.js';

export interface WebhookVerifyOptions {
  signature: string;
  body?: string;
  key?: string;
}

const SIGNATURE = /^[0-9a-fA-F]{64}$/;

/** A webhook whose signature matches. */
export interface WebhookVerifyResult {
  /** The connection whose secret signed it. */
  connection: string;
  key: string;
  /** The decoded body, in Pusher's wire format (`time_ms`, `events` with `user_id`, `socket_id`). */
  webhook: Webhook;
}

export default defineCommand<WebhookVerifyResult>({
  async run(ctx, options: WebhookVerifyOptions) {
    const { io } = ctx;
    const signature = options.signature.trim();
    if (!SIGNATURE.test(signature)) {
      throw new UsageError('--signature must be the X-Pusher-Signature header: 64 hexadecimal characters', {
        hint: 'Copy the header value exactly, e.g. --signature "$HTTP_X_PUSHER_SIGNATURE"',
      });
    }
    if (options.key !== undefined && options.key.trim() === '') throw new UsageError('--key must not be empty');
    const body = await readBody(ctx, options.body);

    const { loadConfig } = await import('../../config/load.js');
    const { config } = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config });
    const apps = candidates(ctx, config, options.key);
    for (const app of apps) io.addSecrets(secretsOf(app.connection));

    const { verifyWebhook } = await import('../../webhook/verify.js');
    const verification = verifyWebhook(
      { body, signature, key: options.key },
      apps.map((a) => ({ key: String(a.connection.key), secret: a.connection.secret })),
    );
    const checked = apps.map((a) => a.name);
    if (!verification.valid && verification.reason === 'malformed-body') {
      throw new ValidationError(verification.message, { details: { reason: verification.reason, connections: checked } });
    }
    if (!verification.valid) {
      throw new BroadcastError(verification.message, {
        code: 'mismatch',
        hint: `The body must be byte for byte what was received; checked against the secret of connection ${checked.map((n) => `"${n}"`).join(', ')}`,
        details: { reason: verification.reason, connections: checked },
      });
    }
    const app = apps.find((a) => String(a.connection.key) === verification.key)!;
    return { result: { connection: app.name, key: verification.key, webhook: verification.webhook } };
  },

  render(io, { connection, key, webhook }) {
    const s = io.style;
    // time_ms is only checked to be a number: one outside the Date range is shown as given.
    const sent = new Date(webhook.time_ms);
    io.out(`${s.green('✓ valid')} signature (connection "${connection}", key ${key}), sent ${Number.isNaN(sent.getTime()) ? `at time_ms ${webhook.time_ms}` : sent.toISOString()}`);
    for (const event of webhook.events) io.out(`  ${describe(event)}`);
    if (webhook.events.length === 0) io.note(io.errStyle.dim('  (no events)'));
  },
});

/** The body: `--body @file`, `--body -` or standard input (never a terminal: nobody types a webhook). */
async function readBody(ctx: Context, option: string | undefined): Promise<Buffer> {
  if (option !== undefined && option !== '-') {
    if (!option.startsWith('@') || option.length < 2) {
      throw new UsageError(`--body takes @file (or - for standard input), not ${JSON.stringify(option.slice(0, 40))}`, {
        hint: 'The body must be byte for byte what was received, so it is read from a file or stdin: --body @webhook.json',
      });
    }
    const file = option.slice(1);
    try {
      return await readFile(path.resolve(ctx.cwd, file));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError(`Cannot read --body file ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
    }
  }
  if ((ctx.stdin as { isTTY?: boolean }).isTTY) {
    throw new UsageError('No webhook body: pipe it on standard input or give --body @file', {
      hint: 'broadcast webhook:verify --signature <hex> < body.json',
    });
  }
  return readBytes(ctx.stdin);
}

interface App {
  name: string;
  connection: PusherConnection;
}

/** The apps to check against: those with `--key` among the configured pusher connections, else the selected connection. */
function candidates(ctx: Context, config: Parameters<typeof listConnections>[0], key: string | undefined): App[] {
  if (key === undefined) {
    const resolved = resolveConnection(config, ctx.env, ctx.options.connection);
    if (resolved.connection.driver !== 'pusher') {
      throw new ConfigError(`Connection "${resolved.name}" uses the ${resolved.connection.driver} driver and has no app secret to check against`, {
        hint: 'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET, or pick a pusher connection with --connection',
      });
    }
    return [{ name: resolved.name, connection: resolved.connection }];
  }
  const connections = listConnections(config, ctx.env);
  const hasSecret = (c: { connection: PusherConnection }) => typeof c.connection.secret === 'string' && c.connection.secret !== '';
  const selected = ctx.options.connection;
  if (selected !== undefined) {
    // --connection narrows the choice to one connection: say what is wrong with that one.
    const chosen = connections.get(selected);
    if (!chosen) {
      throw new ConfigError(`Unknown connection "${selected}" (from --connection)`, { hint: `Known connections: ${[...connections.keys()].join(', ')}` });
    }
    if (chosen.connection.driver !== 'pusher') {
      throw new ConfigError(`--connection "${selected}" uses the ${chosen.connection.driver} driver: it has no app key and secret to check a webhook against`, {
        hint: `Drop --connection to pick the pusher connection with key ${JSON.stringify(key)}, or name a pusher connection`,
      });
    }
    const app = { name: chosen.name, connection: chosen.connection };
    if (String(app.connection.key) !== key) {
      throw new ConfigError(`Connection "${selected}", chosen with --connection, has key ${JSON.stringify(String(app.connection.key))}, not ${JSON.stringify(key)}`, {
        hint: 'Drop --connection to pick among all pusher connections by --key',
      });
    }
    if (!hasSecret(app)) throw new ConfigError(`Connection "${selected}" has no secret to check the webhook against`, { hint: `Set ${connectionFields(app.name, ['secret'])}` });
    return [app];
  }
  const pusher = [...connections.values()].filter((c): c is typeof c & { connection: PusherConnection } => c.connection.driver === 'pusher');
  const keyed = pusher.filter((c) => String(c.connection.key) === key);
  const matching = keyed.filter(hasSecret);
  if (matching.length === 0) {
    if (keyed.length > 0) {
      throw new ConfigError(`${keyed.map((c) => `Connection "${c.name}"`).join(', ')} has key ${JSON.stringify(key)} but no secret to check the webhook against`, {
        hint: `Set ${[...new Set(keyed.map((c) => connectionFields(c.name, ['secret'])))].join(' or ')}`,
      });
    }
    const known = pusher.map((c) => `${c.name} (${c.connection.key})`).join(', ');
    throw new ConfigError(`No configured pusher connection has key ${JSON.stringify(key)}`, {
      hint: known ? `Configured: ${known}` : 'No pusher connection is configured: set PUSHER_APP_KEY and PUSHER_APP_SECRET (REVERB_APP_KEY and REVERB_APP_SECRET for Laravel Reverb)',
    });
  }
  return matching.map((c) => ({ name: c.name, connection: c.connection }));
}

function describe(event: WebhookEvent): string {
  const parts = [event.name, event.channel ?? ''];
  if (event.event) parts.push(event.event);
  if (event.user_id !== undefined) parts.push(`user ${event.user_id}`);
  if (event.socket_id) parts.push(`socket ${event.socket_id}`);
  if (event.data !== undefined) parts.push(typeof event.data === 'string' ? event.data : JSON.stringify(event.data));
  return parts.filter(Boolean).join('  ');
}
