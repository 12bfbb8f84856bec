/**
 * Templates and input rules for `broadcast make:event` and `broadcast init`. Pure: no files, no prompts, so
 * every rule can be tested directly and the commands stay thin.
 */
import { DEFAULT_AUTH_ROUTE, DEFAULT_EVENTS_DIR } from '../config/schema.js';
import type { ChannelType } from '../core/channels.js';
import { UsageError, ValidationError } from '../core/errors.js';
import { channelNameProblem, validateEventName } from '../core/validation.js';

/** The channel type used when none is chosen: like Laravel's event stub, private, so nothing is public by accident. */
export const DEFAULT_CHANNEL_TYPE: ChannelType = 'private';

export const CHANNEL_TYPES: readonly ChannelType[] = ['public', 'private', 'presence', 'encrypted'];

/** Prefix of each channel type's full names. */
export const CHANNEL_PREFIX: Record<ChannelType, string> = {
  public: '',
  private: 'private-',
  presence: 'presence-',
  encrypted: 'private-encrypted-',
};

/** The class `broadcastOn()` returns for each channel type. */
export const CHANNEL_CLASS: Record<ChannelType, string> = {
  public: 'Channel',
  private: 'PrivateChannel',
  presence: 'PresenceChannel',
  encrypted: 'EncryptedPrivateChannel',
};

const MAX_CLASS_NAME = 100;
/** Names the generated file imports, or that CanBroadcast already uses: a class or field of that name would clash. */
const RESERVED_CLASS_NAMES = new Set(['CanBroadcast', ...Object.values(CHANNEL_CLASS)]);
const RESERVED_FIELDS = new Set(['broadcastOn', 'broadcastAs', 'broadcastWith', 'broadcastWhen', 'constructor', 'prototype', '__proto__']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLACEHOLDER = /\{([^{}]*)\}/g;

/**
 * The class name for `UserAdded`, `user_added`, `user-added` or `userAdded`: `UserAdded` (each `-`/`_`
 * separated part capitalised, as Laravel's `Str::studly`). Throws a UsageError for anything else: paths,
 * `..`, extensions, spaces and other characters, a leading digit, names that clash with the imports.
 */
export function normaliseEventName(input: string): string {
  const shown = JSON.stringify(input);
  const fail = (reason: string, hint?: string): never => {
    throw new UsageError(`Invalid event name ${shown}: ${reason}`, {
      hint: hint ?? 'Give a class name such as UserAdded, user_added or user-added',
    });
  };
  if (input === '') fail('it is empty');
  if (/[/\\]/.test(input) || input.includes('..')) {
    fail('it must be a class name, not a path', 'Give only the class name; choose the folder with --dir <dir>');
  }
  if (/\.[cm]?[jt]s$/.test(input)) {
    fail('give the class name without a file extension', `broadcast make:event ${input.replace(/\.[cm]?[jt]s$/, '')}`);
  }
  const bad = [...new Set([...input].filter((c) => !/[A-Za-z0-9_-]/.test(c)))];
  if (bad.length > 0) {
    const list = bad.map((c) => JSON.stringify(c)).join(', ');
    fail(
      `it contains ${list}; use letters, digits, "-" or "_"`,
      input.includes('.') ? 'To choose the event name clients listen for (e.g. user.added), use --as' : undefined,
    );
  }
  const parts = input.split(/[-_]/);
  if (parts.some((p) => p === '')) fail('it starts or ends with "-" or "_", or has two in a row');
  const name = parts.map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
  if (!/^[A-Z]/.test(name)) fail('a class name must start with a letter');
  if (name.length > MAX_CLASS_NAME) fail(`it is ${name.length} characters long; the limit is ${MAX_CLASS_NAME}`);
  if (RESERVED_CLASS_NAMES.has(name)) fail(`${name} is one of the names the event file imports from pusher-broadcast`, 'Choose another name');
  return name;
}

/** `UserAdded` → `user-added`: the default channel name for an event. */
export function kebabCase(className: string): string {
  return className
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

export interface ChannelSpec {
  type: ChannelType;
  /** Name without the type prefix; may hold `{field}` placeholders. */
  name: string;
  /** The payload fields used in `name`, in order of first use. */
  params: string[];
}

/** The full channel name, prefix included (placeholders kept): `private-orders.{orderId}`. */
export function fullChannelName(spec: Pick<ChannelSpec, 'type' | 'name'>): string {
  return CHANNEL_PREFIX[spec.type] + spec.name;
}

/** The channel type a full name's prefix implies, if any. */
export function typeFromPrefix(name: string): ChannelType | undefined {
  if (name.startsWith('private-encrypted-')) return 'encrypted';
  if (name.startsWith('private-')) return 'private';
  if (name.startsWith('presence-')) return 'presence';
  return undefined;
}

/**
 * Parses a `--channel` value. The name may carry its prefix (`private-orders`), which then sets the type
 * when `type` is not given (and must agree with it when it is), and `{field}` placeholders for payload fields
 * (`orders.{orderId}`, the same syntax as the config's channel rules). Throws a UsageError / ValidationError.
 */
export function parseChannel(input: string, type?: ChannelType): ChannelSpec {
  const prefixed = typeFromPrefix(input);
  if (prefixed && type && prefixed !== type) {
    const flag = type === 'public' ? '--public' : `--${type}`;
    throw new UsageError(`The channel ${JSON.stringify(input)} is a ${prefixed} channel, but ${flag} was given`, {
      hint: `Drop the prefix from --channel, or use --${prefixed}`,
    });
  }
  const chosen = type ?? prefixed ?? DEFAULT_CHANNEL_TYPE;
  const name = prefixed ? input.slice(CHANNEL_PREFIX[prefixed].length) : input;
  if (name === '') throw new ValidationError(`Invalid channel name ${JSON.stringify(input)}: it is empty`);
  const params: string[] = [];
  for (const [, param] of name.matchAll(PLACEHOLDER)) {
    if (!IDENTIFIER.test(param!)) {
      throw new ValidationError(`Invalid placeholder {${param}} in channel ${JSON.stringify(input)}: use a field name such as {orderId}`);
    }
    if (RESERVED_FIELDS.has(param!)) {
      throw new ValidationError(`Invalid placeholder {${param}} in channel ${JSON.stringify(input)}: ${param} is a method of CanBroadcast`);
    }
    if (!params.includes(param!)) params.push(param!);
  }
  // Checked as it will be sent, with each placeholder standing for a one-character value.
  const problem = channelNameProblem(CHANNEL_PREFIX[chosen] + name.replace(PLACEHOLDER, '1'));
  if (problem) {
    throw new ValidationError(`Invalid channel name ${JSON.stringify(input)}: ${problem.replace('allowed are', 'allowed are {field} placeholders and')}`);
  }
  return { type: chosen, name, params };
}

export interface EventSpec {
  className: string;
  channel: ChannelSpec;
  /** `broadcastAs()`; undefined keeps the default (the class name) and leaves the method commented out. */
  as?: string;
}

/** A TypeScript string literal in single quotes. */
function quote(text: string): string {
  return `'${JSON.stringify(text).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
}

/** Text safe inside a block comment. */
function commentSafe(text: string): string {
  return text.replace(/\*\//g, '*\\/');
}

/** The source of a new event class, importing from the published package `pusher-broadcast`. */
export function renderEvent(spec: EventSpec): string {
  const { className, channel } = spec;
  if (spec.as !== undefined) validateEventName(spec.as);
  const channelClass = CHANNEL_CLASS[channel.type];
  const full = fullChannelName(channel);
  const sampleData = Object.fromEntries(channel.params.map((p) => [p, 1]));
  const channelArg = channel.params.length
    ? `\`${channel.name.replace(PLACEHOLDER, (_, p: string) => `\${this.${p}}`)}\``
    : quote(channel.name);
  const sentAs = spec.as ?? className;
  const lines: string[] = [];
  lines.push(`import { CanBroadcast, ${channelClass} } from 'pusher-broadcast';`, '');
  lines.push('/**');
  lines.push(` * Sent as "${commentSafe(sentAs)}" on the ${channel.type} channel "${full}".`);
  lines.push(' *');
  lines.push(` *   broadcast emit ${className} --data '${JSON.stringify(sampleData)}'`);
  const sampleObject = channel.params.length ? `{ ${channel.params.map((p) => `${p}: 1`).join(', ')} }` : '{}';
  lines.push(` *   await broadcast.channel(new ${className}(${sampleObject}));`);
  if (channel.type !== 'public') {
    lines.push(' *');
    lines.push(` * Browsers subscribe through the auth route; add a rule for '${channel.name}' to \`channels\``);
    lines.push(' * in broadcast.config.ts to decide who may.');
  }
  if (channel.type === 'encrypted') {
    lines.push(' * Encrypted channels also need PUSHER_ENCRYPTION_MASTER_KEY_BASE64 (openssl rand -base64 32).');
  }
  lines.push(' */');
  lines.push(`export class ${className} extends CanBroadcast {`);
  lines.push(
    `  // The payload: the constructor copies the properties of the object you pass in onto the instance.`,
    '  // Declare each field with `declare`, which adds only its type. A plain class field (`orderId!: number;`)',
    '  // is redefined as undefined after the constructor has run (ES2022 class-field semantics) and would',
    '  // wipe out the value the payload set.',
  );
  if (channel.params.length) {
    for (const p of channel.params) lines.push(`  declare ${p}: string | number;`);
  } else {
    lines.push('  // declare orderId: number;');
  }
  lines.push('');
  lines.push('  /** The channel the event is sent on; return an array to send it on several. */');
  lines.push(`  override broadcastOn(): ${channelClass} {`);
  lines.push(`    return new ${channelClass}(${channelArg});`);
  lines.push('  }');
  lines.push('');
  if (spec.as !== undefined) {
    lines.push('  /** The event name clients listen for (without this method: the class name). */');
    lines.push('  override broadcastAs(): string {');
    lines.push(`    return ${quote(spec.as)};`);
    lines.push('  }');
  } else {
    lines.push(`  // The event name clients listen for. Without this method it is the class name, "${className}".`);
    lines.push('  // override broadcastAs(): string {');
    lines.push(`  //   return '${kebabCase(className).replace(/-/g, '.')}';`);
    lines.push('  // }');
  }
  lines.push('');
  lines.push("  // The data sent. Without this method it is the instance's own properties: the payload as given.");
  lines.push('  // Send only what clients need: Pusher Channels accepts at most 10 KB per event.');
  lines.push('  // override broadcastWith(): unknown {');
  lines.push(
    channel.params.length
      ? `  //   return { ${channel.params[0]}: this.${channel.params[0]}, sentAt: new Date().toISOString() };`
      : '  //   return { ...this, sentAt: new Date().toISOString() };',
  );
  lines.push('  // }');
  lines.push('');
  lines.push('  // Return false to skip sending this instance (the CLI and broadcast.channel() then report it skipped).');
  lines.push('  // override broadcastWhen(): boolean {');
  lines.push('  //   return true;');
  lines.push('  // }');
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/**
 * How to run a local Pusher-protocol server (soketi) that the config `init` writes for soketi works with:
 * `init` prints these lines and docs/scaffolding.md shows the same text (a test keeps them equal). The
 * override replaces soketi's uWebSockets.js dependency, a GitHub URL that npm cannot always fetch, with a build
 * published on npm.
 */
export const LOCAL_SOKETI: readonly string[] = [
  'Run soketi (port 6001; app-id, app-key, app-secret) with Docker:',
  '  docker run -p 6001:6001 quay.io/soketi/soketi:1.6-16-debian',
  'or with npm, in this application: add this entry to its package.json',
  '  "overrides": { "uWebSockets.js": "npm:@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0" }',
  'then',
  '  npm install --save-dev @soketi/soketi',
  '  npx soketi start',
];

/** Which server `broadcast init` configures. */
export type ServerKind = 'soketi' | 'reverb' | 'pusher';

export interface InitAnswers {
  server: ServerKind;
  appId: string;
  key: string;
  /** soketi/Reverb. */
  host?: string;
  port?: number;
  scheme?: 'http' | 'https';
  /** Pusher Channels. */
  cluster?: string;
  eventsDir: string;
  authRoute: string;
}

/** Defaults of a local soketi (`npx soketi start`): what `broadcast init --yes` writes. */
export const SOKETI_DEFAULTS = { appId: 'app-id', key: 'app-key', secret: 'app-secret', host: '127.0.0.1', port: 6001, scheme: 'http' } as const;

/** The defaults offered for each server. */
export function initDefaults(server: ServerKind = 'soketi'): InitAnswers {
  const common = { eventsDir: DEFAULT_EVENTS_DIR, authRoute: DEFAULT_AUTH_ROUTE, appId: SOKETI_DEFAULTS.appId, key: SOKETI_DEFAULTS.key };
  if (server === 'pusher') return { ...common, server, cluster: 'mt1' };
  if (server === 'reverb') return { ...common, server, host: '127.0.0.1', port: 8080, scheme: 'http' };
  return { ...common, server, host: SOKETI_DEFAULTS.host, port: SOKETI_DEFAULTS.port, scheme: SOKETI_DEFAULTS.scheme };
}

/**
 * The content of `broadcast.config.ts`. Every connection value is read from its PUSHER_* variable, with the
 * answers as fallbacks. The secret is never written, except soketi's well-known local default.
 */
export function renderConfig(answers: InitAnswers): string {
  const env = (name: string, fallback: string) => `process.env.${name} ?? ${quote(fallback)}`;
  const secretFallback = answers.server === 'soketi' ? SOKETI_DEFAULTS.secret : '';
  const server = { soketi: 'a local soketi', reverb: 'Laravel Reverb', pusher: 'Pusher Channels' }[answers.server];
  const lines = [
    `// Created by \`broadcast init\` for ${server}; \`broadcast config\` shows what it resolves to.`,
    '// Each connection value comes from its PUSHER_* environment variable (see .env.example), falling back to',
    answers.server === 'soketi'
      ? "// the value after ??. 'app-secret' is soketi's local default: for a real server set PUSHER_APP_SECRET, never here."
      : '// the value after ??. The secret is not in this file: set PUSHER_APP_SECRET in the environment.',
    '//',
    '// Only types come from pusher-broadcast (`import type` is removed when the file loads), so the config loads',
    '// wherever the broadcast CLI runs, also where the package is not installed; type-checking it needs the package.',
    "import type { BroadcastConfig } from 'pusher-broadcast';",
    '',
    "// The package's defineConfig, written out so that nothing is imported at run time: it types each channel",
    "// rule's params from its pattern.",
    'const defineConfig = <Patterns extends string>(config: BroadcastConfig<Patterns>) => config as BroadcastConfig;',
    '',
    'export default defineConfig({',
    "  // --connection <name> or BROADCAST_CONNECTION choose another, e.g. 'log' to print events instead of sending.",
    "  default: 'pusher',",
    '  connections: {',
    '    pusher: {',
    "      driver: 'pusher',",
    `      appId: ${env('PUSHER_APP_ID', answers.appId)},`,
    `      key: ${env('PUSHER_APP_KEY', answers.key)},`,
    `      secret: ${env('PUSHER_APP_SECRET', secretFallback)},`,
  ];
  if (answers.server === 'pusher') {
    lines.push(`      cluster: ${env('PUSHER_APP_CLUSTER', answers.cluster ?? 'mt1')},`);
    lines.push('      // Pusher Channels accepts at most 10 KB per event.');
    lines.push('      maxPayloadKb: 10,');
  } else {
    lines.push(`      host: ${env('PUSHER_HOST', answers.host ?? SOKETI_DEFAULTS.host)},`);
    lines.push(`      port: Number(${env('PUSHER_PORT', String(answers.port ?? SOKETI_DEFAULTS.port))}),`);
    lines.push(`      scheme: (process.env.PUSHER_SCHEME ?? ${quote(answers.scheme ?? 'http')}) === 'https' ? 'https' : 'http',`);
  }
  lines.push(
    '      // private-encrypted- channels need encryptionMasterKeyBase64: set PUSHER_ENCRYPTION_MASTER_KEY_BASE64',
    '      // (32 bytes, base64: openssl rand -base64 32). Set PUSHER_* variables override these fields.',
    '    },',
    "    log: { driver: 'log' },",
    '  },',
    '  // Every event class exported from the files in this folder can be sent by name:',
    "  //   broadcast make:event OrderShipped && broadcast emit OrderShipped --data '{\"orderId\":1}'",
    `  eventsDir: ${quote(answers.eventsDir)},`,
    '  // The route browsers call to subscribe to private and presence channels.',
    `  auth: { route: ${quote(answers.authRoute)} },`,
    '  // Who may subscribe to which private/presence channel, by name without its prefix. Each rule gets its',
    "  // pattern's {placeholders} as typed params (orderId: string); a misspelt name is a type error.",
    '  channels: {',
    "    // 'orders.{orderId}': (user, { orderId }) => String(user.id) === orderId,",
    "    // 'chat.{roomId}': (user) => ({ id: user.id, name: user.name }), // presence: the user's info",
    '  },',
    '});',
  );
  return `${lines.join('\n')}\n`;
}

/** The content of `.env.example`: the variable names, with the answers as values and no secret. */
export function renderEnvExample(answers: InitAnswers): string {
  const lines = [
    '# Variables read by broadcast.config.ts (copy to your environment or .env; never commit the real secret).',
    `PUSHER_APP_ID=${answers.appId}`,
    `PUSHER_APP_KEY=${answers.key}`,
    `PUSHER_APP_SECRET=${answers.server === 'soketi' ? SOKETI_DEFAULTS.secret : ''}`,
  ];
  if (answers.server === 'pusher') {
    lines.push(`PUSHER_APP_CLUSTER=${answers.cluster ?? 'mt1'}`);
  } else {
    lines.push(`PUSHER_HOST=${answers.host ?? SOKETI_DEFAULTS.host}`, `PUSHER_PORT=${answers.port ?? SOKETI_DEFAULTS.port}`, `PUSHER_SCHEME=${answers.scheme ?? 'http'}`);
  }
  lines.push(
    '# Only for private-encrypted- channels: openssl rand -base64 32',
    'PUSHER_ENCRYPTION_MASTER_KEY_BASE64=',
    '# Optional: the connection to use (pusher, log, null)',
    '# BROADCAST_CONNECTION=pusher',
  );
  return `${lines.join('\n')}\n`;
}
