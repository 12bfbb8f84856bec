/** `broadcast make:event <Name>`: writes a new event class into the events folder, where the registry finds it. */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChannelType } from '../../core/channels.js';
import { displayPath } from '../../config/load.js';
import { UsageError } from '../../core/errors.js';
import { validateEventName } from '../../core/validation.js';
import { defineCommand } from '../command.js';
import type { Context } from '../context.js';
import { refuseConnectionFlag } from '../input.js';
import { cliCommand } from '../invocation.js';
import { ask, canPrompt, type Question } from '../prompt.js';
import {
  CHANNEL_PREFIX,
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
  name: string;
  file: string;
  channel: { type: ChannelType; name: string };
  /** Payload fields the channel name uses. */
  params: string[];
  as: string;
  written: boolean;
  /** A file was already there: overwritten (--force), or with --dry-run one that writing would need --force for. */
  existed: boolean;
  dryRun: boolean;
  /** How the printed next step runs the CLI from the working folder: `npx broadcast`, or `node <path>`. */
  cli: string;
  /** --dry-run: the file that would be written. */
  content?: string;
}

const TYPE_LABEL: Record<ChannelType, string> = {
  public: 'public: anyone with the app key may listen',
  private: 'private: the auth route decides who may listen',
  presence: 'presence: private, and members see who else is there',
  encrypted: 'encrypted: private, with payloads end-to-end encrypted',
};

export default defineCommand<MakeEventResult>({
  async run(ctx, rawName: string, options: MakeEventOptions) {
    // Everything given on the command line is checked before anything is asked or written.
    const className = normaliseEventName(rawName);
    const flagged = CHANNEL_TYPES.filter((t) => options[t]);
    if (flagged.length > 1) {
      throw new UsageError(`Choose one channel type: ${flagged.map((t) => `--${t}`).join(' and ')} were given`);
    }
    if (options.dryRun && options.force) {
      throw new UsageError('--dry-run and --force cannot go together: a dry run writes nothing, so --force would have nothing to overwrite', {
        hint: 'Drop --force to see the file (the dry run says whether writing it would need --force), or drop --dry-run to write it',
      });
    }
    refuseConnectionFlag(ctx, 'make:event');
    if (options.as !== undefined) validateEventName(options.as);
    if (options.channel !== undefined) parseChannel(options.channel, flagged[0]);
    const { dir, eventsDir } = await targetDir(ctx, options.dir);
    const file = path.join(dir, `${className}.ts`);
    const shown = displayPath(file, ctx.cwd);
    const exists = await stat(file).then(() => true, () => false);
    if (exists && !options.force && !options.dryRun) {
      throw new UsageError(`${shown} already exists; nothing was written`, { hint: 'Use --force to overwrite it' });
    }

    const channel = await chooseChannel(ctx, className, options, flagged[0]);
    const content = renderEvent({ className, channel, as: options.as });
    const result: MakeEventResult = {
      name: className,
      file: shown,
      channel: { type: channel.type, name: fullChannelName(channel) },
      params: channel.params,
      as: options.as ?? className,
      written: false,
      existed: exists,
      dryRun: Boolean(options.dryRun),
      cli: cliCommand(ctx.cwd),
    };
    if (options.dryRun) return { result: { ...result, content } };

    await mkdir(dir, { recursive: true });
    try {
      await writeFile(file, content, { flag: options.force ? 'w' : 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new UsageError(`${shown} already exists; nothing was written`, { hint: 'Use --force to overwrite it' });
      }
      throw error;
    }
    if (eventsDir && path.resolve(dir) !== eventsDir && !isInside(dir, eventsDir)) {
      ctx.io.warn(
        `${displayPath(dir, ctx.cwd)} is outside the events folder ${displayPath(eventsDir, ctx.cwd)}: ` +
          `\`broadcast events\` and \`emit ${className}\` will not find it unless you set eventsDir or list it in the config's \`events\``,
      );
    }
    return { result: { ...result, written: true } };
  },

  render(io, result) {
    if (result.content !== undefined) {
      io.note(`dry run: would write ${result.file}${result.existed ? ' (it exists; --force would overwrite it)' : ''}`);
      // The file as it would be written, byte for byte (io.out would add a newline).
      io.stdout.write(result.content);
      return;
    }
    const s = io.style;
    const { type, name } = result.channel;
    io.out(`${s.green('✓')} ${result.existed ? 'overwrote' : 'created'} ${s.bold(result.file)}`);
    io.out(`  ${result.name}: sent as "${result.as}" on the ${type} channel ${s.cyan(name)}`);
    const sample = JSON.stringify(Object.fromEntries(result.params.map((p) => [p, 1])));
    io.out(`  send it: ${result.cli} emit ${result.name} --data '${sample}'`);
    if (type !== 'public') io.out(`  browsers need an authorization rule for '${name.slice(CHANNEL_PREFIX[type].length)}' in the config's \`channels\``);
  },
});

/**
 * The channel: from the flags (`flagged`: the channel type flag given, if any), else asked in a terminal,
 * else the defaults (private, named after the class).
 */
async function chooseChannel(ctx: Context, className: string, options: MakeEventOptions, flagged: ChannelType | undefined): Promise<ChannelSpec> {
  let type = flagged ?? (options.channel !== undefined ? typeFromPrefix(options.channel) : undefined);
  let name = options.channel;
  if (type !== undefined && name !== undefined) return parseChannel(name, type);
  if (canPrompt(ctx, options)) {
    const questions: Question[] = [];
    if (type === undefined) {
      questions.push({
        type: 'select',
        name: 'type',
        message: 'Channel type',
        default: DEFAULT_CHANNEL_TYPE,
        choices: CHANNEL_TYPES.map((t) => ({ name: TYPE_LABEL[t], value: t, short: t })),
      });
    }
    if (name === undefined) {
      questions.push({
        type: 'input',
        name: 'channel',
        message: 'Channel name (no prefix; {field} for a payload field, e.g. orders.{orderId})',
        default: kebabCase(className),
        validate: (value, answers) => {
          try {
            parseChannel(value, type ?? (answers.type as ChannelType | undefined) ?? DEFAULT_CHANNEL_TYPE);
            return true;
          } catch (error) {
            return (error as Error).message;
          }
        },
      });
    }
    const answers = await ask(ctx, questions);
    type ??= answers.type as ChannelType;
    name ??= answers.channel!;
  } else {
    const defaulted = [
      ...(type === undefined ? [`${DEFAULT_CHANNEL_TYPE} channel (--public, --private, --presence or --encrypted)`] : []),
      ...(name === undefined ? [`channel name "${kebabCase(className)}" (--channel <name>)`] : []),
    ];
    type ??= DEFAULT_CHANNEL_TYPE;
    name ??= kebabCase(className);
    if (!options.yes) ctx.io.note(`no terminal to ask in: using the default ${defaulted.join(' and ')}`);
  }
  return parseChannel(name, type);
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
