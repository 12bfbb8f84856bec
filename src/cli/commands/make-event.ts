/** `broadcast make:event <Name>`: writes a new event class into the events folder, where the registry finds it. */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChannelType } from '../../core/channels.js';
import type { Context } from '../context.js';
import { ask, canPrompt, PromptCancelled } from '../prompt.js';
import { ExitCode, UsageError } from '../../core/errors.js';
import { displayPath } from '../../config/load.js';
import {
  CHANNEL_TYPES,
  DEFAULT_CHANNEL_TYPE,
  fullChannelName,
  kebabCase,
  normaliseEventName,
  parseChannel,
  renderEvent,
  typeFromPrefix,
  type ChannelSpec,
} from '../scaffold.js';
import { validateEventName } from '../../core/validation.js';

export interface MakeEventOptions {
  channel?: string;
  public?: boolean;
  private?: boolean;
  presence?: boolean;
  encrypted?: boolean;
  as?: string;
  dir?: string;
  force?: boolean;
  dryRun?: boolean;
  yes?: boolean;
}

/** What make:event did (also its --json output). */
export interface MakeEventResult {
  ok: true;
  name: string;
  file: string;
  channel: { type: ChannelType; name: string };
  /** Payload fields the channel name uses. */
  params: string[];
  as: string;
  written: boolean;
  dryRun: boolean;
  content?: string;
}

const TYPE_LABEL: Record<ChannelType, string> = {
  public: 'public: anyone with the app key may listen',
  private: 'private: the auth route decides who may listen',
  presence: 'presence: private, and members see who else is there',
  encrypted: 'encrypted: private, with payloads end-to-end encrypted',
};

export default async function makeEvent(ctx: Context, rawName: string, options: MakeEventOptions): Promise<number> {
  const { io } = ctx;
  // Everything given on the command line is checked before anything is asked or written.
  const className = normaliseEventName(rawName);
  const flagged = CHANNEL_TYPES.filter((t) => options[t]);
  if (flagged.length > 1) {
    throw new UsageError(`Choose one channel type: ${flagged.map((t) => `--${t}`).join(' and ')} were given`);
  }
  if (options.as !== undefined) validateEventName(options.as);
  if (options.channel !== undefined) parseChannel(options.channel, flagged[0]);
  let channelInput = options.channel;
  const { dir, eventsDir } = await targetDir(ctx, options.dir);
  const file = path.join(dir, `${className}.ts`);
  const shown = displayPath(file, ctx.cwd);
  const exists = await stat(file).then(() => true, () => false);
  if (exists && !options.force && !options.dryRun) {
    throw new UsageError(`${shown} already exists; nothing was written`, { hint: 'Use --force to overwrite it' });
  }

  let type: ChannelType | undefined = flagged[0] ?? (options.channel !== undefined ? typeFromPrefix(options.channel) : undefined);
  if (canPrompt(ctx, options) && (type === undefined || channelInput === undefined)) {
    try {
      const answers = await ask(ctx, [
        ...(type === undefined
          ? [{
              type: 'select' as const,
              name: 'type',
              message: 'Channel type',
              default: DEFAULT_CHANNEL_TYPE,
              choices: CHANNEL_TYPES.map((t) => ({ name: TYPE_LABEL[t], value: t, short: t })),
            }]
          : []),
        ...(channelInput === undefined
          ? [{
              type: 'input' as const,
              name: 'channel',
              message: 'Channel name (no prefix; {field} for a payload field, e.g. orders.{orderId})',
              default: kebabCase(className),
              validate: (value: string, answers: Record<string, string>) => {
                try {
                  parseChannel(value, type ?? (answers.type as ChannelType | undefined) ?? DEFAULT_CHANNEL_TYPE);
                  return true as const;
                } catch (error) {
                  return (error as Error).message;
                }
              },
            }]
          : []),
      ]);
      type ??= answers.type as ChannelType;
      channelInput ??= answers.channel!;
    } catch (error) {
      if (error instanceof PromptCancelled) {
        io.err('cancelled; nothing was written');
        return ExitCode.interrupted;
      }
      throw error;
    }
  } else if (type === undefined || channelInput === undefined) {
    const defaulted = [
      ...(type === undefined ? [`${DEFAULT_CHANNEL_TYPE} channel (--public, --private, --presence or --encrypted)`] : []),
      ...(channelInput === undefined ? [`channel name "${kebabCase(className)}" (--channel <name>)`] : []),
    ];
    type ??= DEFAULT_CHANNEL_TYPE;
    channelInput ??= kebabCase(className);
    if (!options.yes) io.note(`no terminal to ask in: using the default ${defaulted.join(' and ')}`);
  }
  const channel: ChannelSpec = parseChannel(channelInput, type);

  const content = renderEvent({ className, channel, as: options.as });
  const result: MakeEventResult = {
    ok: true,
    name: className,
    file: shown,
    channel: { type, name: fullChannelName(channel) },
    params: channel.params,
    as: options.as ?? className,
    written: false,
    dryRun: Boolean(options.dryRun),
  };
  if (options.dryRun) {
    if (io.json) io.writeJson({ ...result, content });
    else {
      io.note(`dry run: would write ${shown}${exists ? ' (it exists; --force would overwrite it)' : ''}`);
      io.stdout.write(content);
    }
    return 0;
  }

  await mkdir(dir, { recursive: true });
  try {
    await writeFile(file, content, { flag: options.force ? 'w' : 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UsageError(`${shown} already exists; nothing was written`, { hint: 'Use --force to overwrite it' });
    }
    throw error;
  }
  result.written = true;
  if (io.json) {
    io.writeJson(result);
  } else {
    const s = io.style;
    io.out(`${s.green('✓')} ${exists ? 'overwrote' : 'created'} ${s.bold(shown)}`);
    io.out(`  ${className}: sent as "${result.as}" on the ${type} channel ${s.cyan(result.channel.name)}`);
    const sample = JSON.stringify(Object.fromEntries(channel.params.map((p) => [p, 1])));
    io.out(`  send it: broadcast emit ${className} --data '${sample}'`);
    if (type !== 'public') io.out(`  browsers need an authorization rule for '${channel.name}' in the config's \`channels\``);
  }
  if (eventsDir && path.resolve(dir) !== eventsDir && !isInside(dir, eventsDir)) {
    io.warn(
      `${displayPath(dir, ctx.cwd)} is outside the events folder ${displayPath(eventsDir, ctx.cwd)}: ` +
        `\`broadcast events\` and \`emit ${className}\` will not find it unless you set eventsDir or list it in the config's \`events\``,
    );
  }
  return 0;
}

/** The folder to write to: --dir (relative to the cwd), else the config's eventsDir; and the registry's folder. */
async function targetDir(ctx: Context, dirOption: string | undefined): Promise<{ dir: string; eventsDir?: string }> {
  const [{ loadConfig }, { eventsDirOf }] = await Promise.all([import('../../config/load.js'), import('../registry.js')]);
  if (dirOption !== undefined) {
    if (dirOption.trim() === '') throw new UsageError('--dir must not be empty');
    const dir = path.resolve(ctx.cwd, dirOption);
    // The config only matters here for the warning about writing outside the registry's folder.
    const eventsDir = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config }).then(
      (loaded) => eventsDirOf(loaded.config, loaded.filepath ? path.dirname(loaded.filepath) : ctx.cwd),
      () => undefined,
    );
    return { dir, eventsDir };
  }
  const loaded = await loadConfig({ cwd: ctx.cwd, configPath: ctx.options.config });
  const eventsDir = eventsDirOf(loaded.config, loaded.filepath ? path.dirname(loaded.filepath) : ctx.cwd);
  return { dir: eventsDir, eventsDir };
}

function isInside(dir: string, parent: string): boolean {
  const relative = path.relative(parent, path.resolve(dir));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}
