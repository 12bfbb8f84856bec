/**
 * The `broadcast` command line. This is the only module that knows about argv and exit codes; each command
 * lives in src/commands/ and is imported only when it runs, so start-up loads little more than commander.
 */
import { Command, CommanderError, Option } from 'commander';
import { createRequire } from 'node:module';
import type { Context, GlobalOptions } from './cli/context.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

type Action = (ctx: Context, ...args: any[]) => Promise<number | void>;

export interface MainOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  stdin?: NodeJS.ReadableStream;
}

/** Runs the CLI and resolves with the exit code. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  let exitCode = 0;
  const program = new Command('broadcast');
  const stdout = (options.stdout ?? process.stdout) as NodeJS.WritableStream & { isTTY?: boolean };
  const stderr = (options.stderr ?? process.stderr) as NodeJS.WritableStream & { isTTY?: boolean };

  // Builds the context, loads the command module and runs it; errors become messages and exit codes.
  const run = (load: () => Promise<{ default: Action }>) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const global = command.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
      const { Io } = await import('./cli/io.js');
      const io = await new Io({
        stdout: stdout as never,
        stderr: stderr as never,
        env: options.env ?? process.env,
        json: Boolean(global.json),
        color: global.color,
        verbose: Boolean(global.verbose),
      }).init();
      const ctx: Context = {
        cwd: options.cwd ?? process.cwd(),
        env: options.env ?? process.env,
        io,
        options: global,
        stdin: options.stdin ?? process.stdin,
      };
      try {
        const action = (await load()).default;
        exitCode = (await action(ctx, ...args.slice(0, -2), command.opts())) ?? 0;
      } catch (error) {
        exitCode = io.fail(error);
      }
    };

  program
    .description('Broadcast real-time events over the Pusher protocol (Pusher Channels, soketi, Laravel Reverb).')
    .version(version, '-V, --version')
    .option('-c, --config <path>', 'config file to use instead of searching for broadcast.config.*')
    .option('--connection <name>', 'connection to use (overrides BROADCAST_CONNECTION and the config default)')
    .option('--json', 'machine-readable JSON on stdout')
    .option('--no-color', 'no colours (also NO_COLOR=1)')
    .option('-v, --verbose', 'log each HTTP request (method, path, status, timing) on stderr')
    .addOption(new Option('--timeout <ms>', 'per-request timeout in milliseconds').argParser(intArg('--timeout')))
    .addOption(new Option('--retries <n>', 'retries for requests that did not reach the server, and for 429/503').argParser(intArg('--retries', 0)))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => stdout.write(s), writeErr: (s) => stderr.write(s) });

  program
    .command('emit')
    .summary('send an event to channels, or a registered event class')
    .description(
      'Send an event: `emit <channels> <event>` with comma-separated full channel names, or `emit <EventClass>` for a\n' +
        'registered event class (config `events` or the classes exported from `eventsDir`).',
    )
    .argument('<target>', 'channel name(s), comma-separated, or a registered event class name')
    .argument('[event]', 'event name (omit when <target> is an event class)')
    .option('-d, --data <json>', 'event data: JSON, @file.json, or - for stdin', '{}')
    .option('--socket-id <id>', 'exclude this connection from receiving the event')
    .option('--dry-run', 'validate and print what would be sent, sending nothing')
    .action(run(() => import('./commands/emit.js')));

  program
    .command('config')
    .summary('show the resolved configuration (secrets masked)')
    .action(run(() => import('./commands/config.js')));

  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      if (argv.includes('--json')) {
        stdout.write(`${JSON.stringify({ ok: false, error: { code: 'usage', message: error.message.replace(/^error: /, ''), exitCode: 2 } })}\n`);
      }
      return 2;
    }
    throw error;
  }
  return exitCode;
}

function intArg(flag: string, min = 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      throw new CommanderError(2, 'commander.invalidArgument', `error: ${flag} must be a whole number >= ${min}, not ${JSON.stringify(value)}`);
    }
    return n;
  };
}
