/**
 * Every command, argument and option of the `broadcast` CLI, declared in one place: main.ts runs this program,
 * and scripts/docs.mjs generates docs/cli.md from it. Each command's module is named here and imported only
 * when that command runs, so start-up loads little more than commander.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULTS, FOLLOW_DEFAULTS } from '../config/defaults.js';
import type { Command as BroadcastCommand } from './command.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import { WEBHOOK_DEFAULTS } from '../webhook/defaults.js';
import { packageRoot } from '../core/package-root.js';

export const { version } = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

export type CommandModule = { default: BroadcastCommand<object> };
/** Turns a command module's loader into commander's action handler. */
export type Runner = (load: () => Promise<CommandModule>) => (...args: unknown[]) => Promise<void>;

/**
 * The whole program; `run` wraps each command's module loader into its action. `configure` is applied before
 * any command is added, so the commands inherit its settings (exit override, output).
 */
export function buildProgram(run: Runner, configure: (program: Command) => void = () => {}): Command {
  const program = new Command('broadcast');
  configure(program);
  program
    .description('Broadcast real-time events over the Pusher protocol (Pusher Channels, soketi, Laravel Reverb).')
    .version(version, '-V, --version')
    .option('-c, --config <path>', 'config file to use instead of searching for broadcast.config.*')
    .option('--connection <name>', 'connection to use (overrides BROADCAST_CONNECTION and the config default)')
    .option('--json', 'machine-readable JSON on stdout')
    .option('--no-color', 'no colours (also NO_COLOR=1)')
    .option('-v, --verbose', 'log each HTTP request (method, path, status, timing) on stderr')
;

  // A time limit for commands that post to the user's own application (no retries: the answer is the point).
  const requestTimeout = () =>
    new Option('--timeout <duration>', `time limit for each request: 5s, 500ms (a bare number is milliseconds; default ${formatDuration(DEFAULTS.timeoutMs)})`).argParser(durationArg('--timeout', 'ms'));

  // Per-request settings for commands that call the HTTP API.
  const network = (cmd: Command, defaults: { timeoutMs: number; retries: number } = { timeoutMs: DEFAULTS.timeoutMs, retries: DEFAULTS.retries }) =>
    cmd
      .addOption(new Option('--timeout <duration>', `time limit for each request to the server, retries included: 5s, 500ms (a bare number is milliseconds; default ${formatDuration(defaults.timeoutMs)})`).argParser(durationArg('--timeout', 'ms')))
      .addOption(new Option('--retries <n>', `retries for requests that surely did not reach the server, and for 429/503 answers (default ${defaults.retries})`).argParser(intArg('--retries', 0)));

  network(
    program
      .command('emit')
      .summary('send an event to channels, or a registered event class')
      .description(
        'Send an event: `emit <channels> <event>` with comma-separated full channel names, `emit <EventClass>` for a\n' +
          'registered event class (config `events` or the classes exported from `eventsDir`), or `emit --file events.ndjson`.',
      )
      .argument('[target]', 'channel name(s), comma-separated, or a registered event class name')
      .argument('[event]', 'event name (omit when <target> is an event class)')
      // No default: --data given with --file is refused, so it must be told apart from no --data ({} for one event).
      .option('-d, --data <json>', 'event data: JSON, @file.json, or - for stdin (default {})')
      .option('--socket-id <id>', 'exclude this connection from receiving the event')
      .option('--user <id>', 'send to the connections signed in as this user (#server-to-user-<id>): emit --user <id> <event>')
      .option('--dry-run', 'validate and print what would be sent, sending nothing')
      .option('--strict', 'refuse (exit 2) what is only a warning otherwise: a channel prefix that looks mistyped (privat-, Private-)')
      .option('--info <attributes>', 'print the counts the server returns per channel: user_count (presence channels only), subscription_count; Pusher bills such a request as two messages, soketi returns none')
      .addOption(new Option('--max-payload-kb <n>', 'largest payload accepted, in KB (overrides BROADCAST_MAX_PAYLOAD_KB and the connection\'s maxPayloadKb; default: its server\'s, 10 on Pusher Channels)').argParser(positiveNumberArg('--max-payload-kb')))
      .option('-f, --file <path>', 'send the events of an NDJSON file (- for stdin), one per line')
      .option('--failed-out <file>', 'with --file: write events not confirmed sent here, as NDJSON')
      .option('--force', 'with --failed-out: replace the file if it already holds events')
      .option('--resume', 'with --file: send only what an earlier run of this file to this server did not (its journal)')
      .addOption(new Option('--concurrency <n>', 'with --file: requests in flight').argParser(intArg('--concurrency')))
      .addOption(new Option('--rate <messages/s>', 'with --file: at most this many messages per second (one per channel per event, as Pusher counts them)').argParser(intArg('--rate'))),
  ).action(run(() => import('./commands/emit.js')));

  network(
    program
      .command('config')
      .summary('show the resolved configuration (secrets masked), the server profile and the limits checked before sending')
      .addOption(new Option('--max-payload-kb <n>', 'show the payload limit a command given this flag would use').argParser(positiveNumberArg('--max-payload-kb'))),
  ).action(run(() => import('./commands/config.js')));

  program
    .command('auth:sign')
    .summary('sign a private or presence channel subscription as the auth route would')
    .argument('<channel>', 'full channel name (private-, presence- or private-encrypted-)')
    .option('--socket-id <id>', 'socket id (a random valid one is generated when omitted)')
    .option('--user <id>', 'presence: the user id (all digits: written as a JSON number)')
    .option('--user-info <json>', 'presence: user_info as JSON')
    .option('--channel-data <json>', 'presence: the exact channel_data string to sign')
    .option('--verify <auth>', 'check this auth signature instead of printing one (exit 0 match, 1 mismatch)')
    .action(run(() => import('./commands/auth-sign.js')));

  program
    .command('auth:sign-user')
    .summary('sign a user sign-in (pusher-js signin()) as the user authentication route would')
    .option('--user <id>', 'the user id (A-Z a-z 0-9 _ - = @ , . ;)')
    .option('--user-info <json>', 'user_info as JSON (an object), @file or -')
    .option('--watchlist <ids>', 'user ids whose online status this user watches, comma-separated (at most 100)')
    .option('--socket-id <id>', 'socket id (a random valid one is generated when omitted)')
    .option('--verify <auth>', 'check this auth signature, or the whole {auth, user_data} body, instead of printing one (exit 0 match, 1 mismatch)')
    .action(run(() => import('./commands/auth-sign-user.js')));

  program
    .command('auth:test')
    .summary('check a live auth route: post as pusher-js does and verify its answers')
    .argument('<url>', 'the auth route, e.g. http://localhost:3000/broadcasting/auth')
    .option('--channel <names>', 'channel(s) to ask for, repeatable or comma-separated (default: private-broadcast-test, presence-broadcast-test)', collect)
    .option('--header <header>', "a request header, repeatable: --header 'Cookie: session=…'", collect)
    .option('--bearer <token>', 'send Authorization: Bearer <token>')
    .option('--anonymous', 'also check that a request without credentials is refused with 403')
    .option('--socket-id <id>', 'socket id to ask for (a random valid one when omitted)')
    .addOption(requestTimeout())
    .action(run(() => import('./commands/auth-test.js')));

  program
    .command('routes')
    .summary('list the auth routes and the channel authorization rules')
    .action(run(() => import('./commands/routes.js')));

  program
    .command('make:event')
    .summary('scaffold a broadcast event class')
    .argument('<name>', 'class name: UserAdded, user_added or user-added')
    .option('--channel <name>', 'channel name (without prefix)')
    .option('--public', 'broadcast on a public channel')
    .option('--private', 'broadcast on a private channel')
    .option('--presence', 'broadcast on a presence channel')
    .option('--encrypted', 'broadcast on an encrypted private channel')
    .option('--as <eventName>', 'event name clients listen for (broadcastAs)')
    .option('--dir <dir>', 'folder to write to (default: config eventsDir)')
    .option('--force', 'overwrite an existing file')
    .option('--dry-run', 'print the file instead of writing it')
    .option('-y, --yes', 'accept defaults for everything not given, without prompting')
    .action(run(() => import('./commands/make-event.js')));

  program
    .command('events')
    .summary('list the registered event classes')
    .action(run(() => import('./commands/events.js')));

  program
    .command('init')
    .summary('create broadcast.config.ts and .env.example')
    .option('-y, --yes', 'take defaults that work with a local soketi, without prompting')
    .option('--force', 'overwrite an existing config')
    .action(run(() => import('./commands/init.js')));

  program
    .command('listen')
    .summary('subscribe to channels (or every occupied one: --all) and print events as they arrive')
    .argument('[channels]', 'channel name(s), comma-separated (or --all; none with --sign-in: only the user\'s events)')
    .option('--all', 'follow every occupied channel instead: found by polling the HTTP API, subscribed as it appears, left when vacated')
    .option('--prefix <prefix>', 'with --all: only channels starting with this (e.g. private-)')
    .addOption(new Option('--interval <duration>', `with --all: time between two polls of the channel list: 2s, 500ms (a bare number is seconds; default ${formatDuration(FOLLOW_DEFAULTS.intervalMs)}, at least ${formatDuration(FOLLOW_DEFAULTS.minIntervalMs)})`).argParser(durationArg('--interval', 's')))
    .addOption(new Option('--max-channels <n>', `with --all: most channels followed at once; past it, a warning (default ${FOLLOW_DEFAULTS.maxChannels})`).argParser(intArg('--max-channels')))
    .option('--user <id>', 'presence: join as this user id (and --sign-in: sign in as it)')
    .option('--user-info <json>', 'presence and --sign-in: user_info as JSON')
    .option('--sign-in', 'sign in as --user (pusher:signin): show the events sent to that user (emit --user) on #server-to-user-<id>, and stay connected to a server that requires sign-in')
    .option('--events <names>', 'only these event names, comma-separated')
    .addOption(new Option('--count <n>', 'exit 0 after n matching events').argParser(intArg('--count')))
    .addOption(new Option('--duration <duration>', 'stop after this long: 30s, 2m (a bare number is seconds); exit 1 if --count was not reached').argParser(durationArg('--duration', 's')))
    // Before 0.2 `listen --timeout` meant what --duration means now (a bare number in seconds); kept, hidden.
    .addOption(new Option('--timeout <duration>').hideHelp().argParser(durationArg('--timeout', 's')))
    .action(run(() => import('./commands/listen.js')));

  network(
    program
      .command('channels')
      .summary('list occupied channels (GET /channels)')
      .option('--prefix <prefix>', 'only channels starting with this')
      .option('--info <attributes>', 'extra attributes: user_count (needs --prefix presence-), subscription_count, cache'),
  ).action(run(() => import('./commands/channels.js')));

  network(
    program
      .command('channel')
      .summary('show whether a channel is occupied, and its counts')
      .argument('<name>', 'full channel name')
      .option('--info <attributes>', 'extra attributes: user_count (presence channels), subscription_count, cache (cache channels: the cached event)'),
  ).action(run(() => import('./commands/channel.js')));

  network(
    program
      .command('users')
      .summary('list the members of a presence channel')
      .argument('<channel>', 'presence channel name'),
  ).action(run(() => import('./commands/users.js')));

  program
    .command('console')
    .summary('a live admin page: channels, events, members, an event composer and a signer')
    .description(
      'Serve a live admin page for the connection\'s server on this machine and print its address (with its access\n' +
        'token). It follows every occupied channel (joining presence channels as a member), and runs until Ctrl-C.',
    )
    .addOption(new Option('--port <n>', 'port to listen on (default: a free one)').argParser(intArg('--port', 0)))
    .option('--host <address>', 'address to listen on; anything but 127.0.0.1/localhost is reachable from other machines', '127.0.0.1')
    .option('--open', 'open the page in the default browser')
    .option('--read-only', 'hide the event composer and refuse to send events')
    .addOption(new Option('--interval <duration>', `time between two polls of the channel list: 2s, 500ms (a bare number is seconds; default ${formatDuration(FOLLOW_DEFAULTS.intervalMs)})`).argParser(durationArg('--interval', 's')))
    .addOption(new Option('--max-channels <n>', `most channels followed at once (default ${FOLLOW_DEFAULTS.maxChannels})`).argParser(intArg('--max-channels')))
    .action(run(() => import('./commands/console.js')));

  network(
    program
      .command('users:terminate')
      .summary('close every connection signed in as a user (needs --force)')
      .argument('<user-id>', 'the user id the connections signed in with')
      .option('--force', 'do it: without it nothing is sent (exit 2)'),
  ).action(run(() => import('./commands/users-terminate.js')));

  network(
    program.command('doctor').summary('check the configuration, the server, credentials and a round trip'),
    { timeoutMs: DEFAULTS.doctorTimeoutMs, retries: DEFAULTS.doctorRetries },
  ).action(run(() => import('./commands/doctor.js')));

  program
    .command('webhook:verify')
    .summary('verify a webhook signature (X-Pusher-Signature) for a body on stdin')
    .requiredOption('--signature <hex>', 'the X-Pusher-Signature header')
    .option('--body <@file>', 'read the body from a file instead of stdin')
    .option('--key <key>', 'the X-Pusher-Key header, to pick the app when several are configured')
    .action(run(() => import('./commands/webhook-verify.js')));

  program
    .command('webhook:listen')
    .summary('receive webhooks locally: verify each POST and print its events')
    .addOption(new Option('--port <n>', `port to listen on, 0 for any free one (default ${WEBHOOK_DEFAULTS.listenPort})`).argParser(intArg('--port', 0)))
    .option('--host <address>', `address to listen on (default ${WEBHOOK_DEFAULTS.listenHost}; 0.0.0.0 for a server in a container)`)
    .option('--path <path>', `path to answer (default ${WEBHOOK_DEFAULTS.listenPath})`)
    .addOption(new Option('--count <n>', 'exit 0 after n events').argParser(intArg('--count')))
    .addOption(new Option('--duration <duration>', 'stop after this long: 30s, 2m (a bare number is seconds); exit 1 if --count was not reached').argParser(durationArg('--duration', 's')))
    .addOption(new Option('--max-age <duration>', `refuse webhooks whose time_ms is further from now than this (default ${formatDuration(WEBHOOK_DEFAULTS.maxAgeMs)}; a bare number is seconds)`).argParser(durationArg('--max-age', 's')))
    .action(run(() => import('./commands/webhook-listen.js')));

  program
    .command('webhook:send')
    .summary("post a correctly signed sample webhook to an application's endpoint")
    .argument('<url>', 'the webhook endpoint, e.g. http://localhost:3000/webhooks/pusher')
    .requiredOption('--event <kind>', 'channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss or subscription_count')
    .requiredOption('--channel <name>', 'the channel the event is about')
    .option('--user-id <id>', 'member_added/member_removed: the member; client_event on presence channels: the sender')
    .option('--client-event <name>', 'client_event: the event name (default client-test)')
    .option('--data <json>', 'client_event: the data, JSON, @file or - (default {}); encrypted for private-encrypted- channels')
    .option('--socket-id <id>', 'client_event: the sender\'s socket id (default: a random one)')
    .addOption(new Option('--subscription-count <n>', 'subscription_count: the count (default 1)').argParser(intArg('--subscription-count', 0)))
    .addOption(requestTimeout())
    .action(run(() => import('./commands/webhook-send.js')));

  network(
    program
      .command('bench')
      .summary('measure your server: publish throughput and end-to-end latency')
      .addOption(new Option('--count <n>', `events to publish (default ${DEFAULTS.benchCount})`).argParser(intArg('--count')))
      // Before 0.2 the count was --events (which in listen filters names); kept, hidden.
      .addOption(new Option('--events <n>').hideHelp().argParser(intArg('--events')))
      .addOption(new Option('--size <bytes>', `payload size in bytes (default ${DEFAULTS.benchSize})`).argParser(intArg('--size')))
      .addOption(new Option('--rate <events/s>', 'publish rate (default: as fast as possible)').argParser(intArg('--rate'))),
  ).action(run(() => import('./commands/bench.js')));

  return program;
}

/** A commander parser for a duration option (`5s`, `500ms`; a bare number is in `bareUnit`). */
function durationArg(flag: string, bareUnit: 'ms' | 's') {
  return (value: string): number => {
    try {
      return parseDuration(value, flag, bareUnit);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** A repeatable option's values, in order. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positiveNumberArg(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !(n > 0 && Number.isFinite(n))) throw new InvalidArgumentError(`${flag} must be a positive number, not ${JSON.stringify(value)}.`);
    return n;
  };
}

function intArg(flag: string, min = 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be a whole number >= ${min}.`);
    return n;
  };
}
