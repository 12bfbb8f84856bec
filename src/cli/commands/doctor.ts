/**
 * `broadcast doctor`: checks a setup end to end, one check after the other: the config, the connection, the
 * server, this machine's clock against the server's, the credentials, a WebSocket subscription, a round trip,
 * the auth route. Each check passes, warns,
 * fails or is skipped (when a check it depends on did not pass), so an unreachable server ends the run within
 * one request timeout. Any failed check makes the outcome `checks_failed` (exit 1).
 *
 * Each check is a step: what it needs from the checks before it (else it is skipped), and a function that
 * runs it and returns the check with what it found for the checks after it. The config, connection and
 * auth-route checks are here; those of the server are in ../checks.ts, which the console runs too.
 */
import { resolveConnection, secretsOf, ENV_CONNECTIONS, connectionUrl, type PusherConnection } from '../../config/schema.js';
import { BroadcastError } from '../../core/errors.js';
import { DEFAULTS } from '../../config/defaults.js';
import { failed, runSteps, SERVER_STEPS, type Check, type CheckOptions, type CheckStatus, type Findings, type Step } from '../checks.js';
import { defineCommand } from '../command.js';
import { stoppedBy, type Context, type NetworkOptions } from '../context.js';
import type { Io } from '../io.js';

export type { Check, CheckStatus } from '../checks.js';

export interface DoctorResult {
  /** The connection checked, once it was resolved. */
  connection?: string;
  /** In the order they ran; a run stopped by a signal lists those that finished. */
  checks: Check[];
}

export default defineCommand<DoctorResult>({
  async run(ctx, options: NetworkOptions) {
    const retries = options.retries ?? DEFAULTS.doctorRetries;
    const checkOptions: CheckOptions = { timeoutMs: options.timeout ?? DEFAULTS.doctorTimeoutMs, signal: ctx.signal, probe: PROBE };
    const steps = stepsOf(ctx, retries);
    let found: Findings = {};
    let checks: Check[] = [];
    try {
      ({ checks, found } = await runSteps(steps, checkOptions, {}, (step, index) => {
        // Which check is running, for a person waiting on a slow one (the report comes at the end, on stdout).
        ctx.io.progress(ctx.io.errStyle.dim(`checking ${step.name}… (${index + 1}/${steps.length})`));
      }));
    } finally {
      ctx.io.clearProgress();
      found.websocket?.subscriber.disconnect();
      found.broadcast?.close();
    }
    const result: DoctorResult = { ...(found.connectionName !== undefined ? { connection: found.connectionName } : {}), checks };
    return { result, error: stoppedBy(ctx) ?? checksFailed(checks) };
  },

  render(io, { checks }) {
    for (const check of checks) renderCheck(io, check);
    const count = (status: CheckStatus) => checks.filter((c) => c.status === status).length;
    const [warned, failed, skipped] = [count('warn'), count('fail'), count('skip')];
    const parts = [
      `${count('pass')} passed`,
      warned && `${warned} warning${warned === 1 ? '' : 's'}`,
      failed && `${failed} failed`,
      skipped && `${skipped} skipped`,
    ].filter(Boolean);
    io.out('');
    io.out(failed ? io.style.red(parts.join(', ')) : io.style.green(parts.join(', ')));
  },
});

/** The private channels doctor's checks use, and their event. */
const PROBE = { channelPrefix: 'private-broadcast-doctor-', event: 'broadcast.doctor' };

/** Every check, in order: the config and the connection (doctor's own), the server's, then the auth route. */
function stepsOf(ctx: Context, retries: number): Step[] {
  const configLoaded = (found: Findings) => (found.config ? undefined : 'the config did not load');
  return [
    { name: 'config', run: () => checkConfig(ctx) },
    { name: 'connection', needs: configLoaded, run: (found, options) => checkConnection(ctx, found, { timeoutMs: options.timeoutMs, retries }) },
    SERVER_STEPS.server,
    SERVER_STEPS.clock,
    SERVER_STEPS.credentials,
    SERVER_STEPS.websocket,
    SERVER_STEPS.roundtrip,
    { name: 'auth-route', needs: configLoaded, run: (found) => checkAuthRoute(found) },
  ];
}

/** A config file was found and loads (or the PUSHER_* or REVERB_* variables are complete). */
async function checkConfig(ctx: Context): ReturnType<Step['run']> {
  const { loadConfig, displayPath } = await import('../../config/load.js');
  try {
    const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config });
    const found = { config: loaded.config };
    if (loaded.filepath) return { check: { status: 'pass', detail: `loaded ${displayPath(loaded.filepath, ctx.cwd)}` }, found };
    const complete = Object.values(ENV_CONNECTIONS).filter((variables) => (['appId', 'key', 'secret'] as const).every((f) => ctx.env[variables[f]]));
    if (complete.length > 0) {
      const names = complete.map((variables) => variables.appId.replace(/_APP_ID$/, '_*')).join(' and ');
      return { check: { status: 'pass', detail: `no config file; using the ${names} environment variables` }, found };
    }
    return {
      check: {
        status: 'warn',
        detail: 'no broadcast.config.* found, and neither the PUSHER_* nor the REVERB_* variables are complete',
        hint: 'Run `broadcast init`, or set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (REVERB_APP_ID, REVERB_APP_KEY and REVERB_APP_SECRET for Laravel Reverb)',
      },
      found,
    };
  } catch (error) {
    return { check: failed(error) };
  }
}

/** The selected connection is complete and can deliver (a pusher connection). */
async function checkConnection(ctx: Context, { config }: Findings, limits: { timeoutMs: number; retries: number }): ReturnType<Step['run']> {
  const { io } = ctx;
  try {
    const resolved = resolveConnection(config!, ctx.env, ctx.options.connection);
    io.addSecrets(secretsOf(resolved.connection));
    const named = { connectionName: resolved.name };
    if (resolved.connection.driver !== 'pusher') {
      return {
        check: {
          status: 'fail',
          detail: `connection "${resolved.name}" uses the ${resolved.connection.driver} driver: nothing is delivered`,
          hint: 'Set PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET (with PUSHER_HOST and PUSHER_PORT for soketi), or REVERB_APP_ID, REVERB_APP_KEY, REVERB_APP_SECRET, REVERB_HOST and REVERB_PORT for Laravel Reverb, or choose a pusher connection with --connection',
        },
        found: named,
      };
    }
    const { Broadcast } = await import('../../core/broadcast.js');
    const broadcast = new Broadcast(config!, {
      env: ctx.env,
      connection: resolved.name,
      logger: () => {},
      // Doctor reports what it sees; retries would only slow down the report of a dead server.
      timeout: limits.timeoutMs,
      retries: limits.retries,
      onRequest: ({ method, path, status, ms }) => io.debug(`${method} ${path} → ${status ?? 'no response'} (${ms.toFixed(0)} ms)`),
    });
    const connection = broadcast.resolved.connection as PusherConnection;
    const where = connection.host ? connectionUrl(connection) : `Pusher Channels, cluster ${connection.cluster ?? 'mt1'}`;
    const encrypted = connection.encryptionMasterKeyBase64 ? ', encryption master key set' : '';
    return {
      check: { status: 'pass', detail: `"${resolved.name}": ${where}, app ${connection.appId}, key ${connection.key}${encrypted}` },
      found: { ...named, broadcast, connection },
    };
  } catch (error) {
    return { check: failed(error) };
  }
}

/** The auth route browsers post to is defined, and the channel rules compile. */
async function checkAuthRoute({ config }: Findings): ReturnType<Step['run']> {
  try {
    const { authRoutePath } = await import('../../auth/routes.js');
    const { rulesOf } = await import('../../auth/rules.js');
    const route = authRoutePath(config!);
    const rules = rulesOf(config!);
    const from = config!.auth?.route !== undefined ? 'from config' : 'default';
    const ruleText = rules.length === 0 ? 'no channel rules: any signed-in user may join private and presence channels' : `${rules.length} channel rule${rules.length === 1 ? '' : 's'}`;
    return { check: { status: 'pass', detail: `POST ${route} (${from}); ${ruleText}` } };
  } catch (error) {
    return { check: failed(error) };
  }
}

/** The outcome's error when a check failed: `checks_failed` (exit 1), naming them. */
function checksFailed(checks: Check[]): BroadcastError | undefined {
  const names = checks.filter((c) => c.status === 'fail').map((c) => c.name);
  if (names.length === 0) return undefined;
  return new BroadcastError(`${names.length} check${names.length === 1 ? '' : 's'} failed: ${names.join(', ')}`, {
    code: 'checks_failed',
    details: { failed: names },
  });
}

const MARKS: Record<CheckStatus, string> = { pass: '✓', warn: '!', fail: '✗', skip: '-' };

function renderCheck(io: Io, check: Check): void {
  const s = io.style;
  const paint = { pass: s.green, warn: s.yellow, fail: s.red, skip: s.dim }[check.status];
  io.out(`${paint(MARKS[check.status])} ${check.name.padEnd(12)} ${check.status === 'skip' ? s.dim(check.detail) : check.detail}`);
  // A hint may run over several lines (commands to copy): each is indented under the check.
  if (check.hint) io.out(`  ${' '.repeat(12)} ${s.dim(`hint: ${check.hint.split('\n').join(`\n  ${' '.repeat(12)}       `)}`)}`);
}
