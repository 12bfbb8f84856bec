/**
 * The `broadcast` command line: runs the program declared in program.ts. This is the only module that knows
 * about argv, process signals and exit codes; each command lives in src/cli/commands/ and is imported only
 * when it runs.
 */
import { CommanderError, type Command } from 'commander';
import type { Context, GlobalOptions } from './context.js';
import { buildProgram, type CommandModule } from './program.js';
import { envSecrets, redactSecrets, registerSecrets } from './redact.js';


export interface MainOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  stdin?: NodeJS.ReadableStream;
  /**
   * Stops the running command when aborted (its reason: the signal's name, e.g. 'SIGINT'). Without it, main
   * owns the process's SIGINT, SIGTERM and SIGHUP: the first asks the command to stop, a second exits at once.
   */
  signal?: AbortSignal;
}

/** Signals the CLI stops on; SIGHUP (a closed terminal) is handled as SIGTERM is. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs the CLI and resolves with the exit code. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  let exitCode = 0;
  const stdout = (options.stdout ?? process.stdout) as NodeJS.WritableStream & { isTTY?: boolean };
  const stderr = (options.stderr ?? process.stderr) as NodeJS.WritableStream & { isTTY?: boolean };
  const env = options.env ?? process.env;
  // Known before any config loads, so usage errors (which echo arguments) and early failures are redacted too.
  const secretsFromEnv = envSecrets(env);
  registerSecrets(secretsFromEnv);

  // Builds the context, loads the command module, runs it and prints its outcome.
  const run = (load: () => Promise<CommandModule>) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const global = program.opts() as GlobalOptions;
      const { Io } = await import('./io.js');
      const io = await new Io({
        stdout: stdout as never,
        stderr: stderr as never,
        env,
        json: Boolean(global.json),
        color: global.color,
        verbose: Boolean(global.verbose),
      }).init();
      io.addSecrets(secretsFromEnv);
      const stop = options.signal ? { signal: options.signal, release: () => {} } : ownSignals();
      let module: CommandModule['default'] | undefined;
      const ctx: Context = {
        cwd: options.cwd ?? process.cwd(),
        env,
        io,
        options: global,
        stdin: options.stdin ?? process.stdin,
        signal: stop.signal,
        emit(record) {
          if (io.json) io.writeJson(record);
          else module?.renderRecord?.(io, record);
        },
      };
      const streaming = () => module?.renderRecord !== undefined;
      try {
        module = (await load()).default;
        const positional = args.slice(0, -2);
        const opts = command.opts();
        const outcome = await module.run(ctx, ...positional, opts);
        exitCode = io.result(outcome, module.render, streaming());
      } catch (error) {
        exitCode = io.fail(error, streaming());
      } finally {
        stop.release();
      }
    };

  const program = buildProgram(run, (p) =>
    p
      .showHelpAfterError('(run with --help for usage)')
      .exitOverride()
      .configureOutput({ writeOut: (s) => stdout.write(redactSecrets(s)), writeErr: (s) => stderr.write(redactSecrets(s)) }),
  );

  // A reader that goes away (`broadcast config | head -1`) ends the output quietly, not with a crash; the
  // command still finishes (a bulk send keeps its records) and exits as it would.
  const quietEpipe = (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  };
  stdout.on('error', quietEpipe);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version asked for: exit 0. Help shown because no command was given: a usage error (exit 2).
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      const message = error.code === 'commander.help' ? 'No command given (see the list above)' : error.message.replace(/^error: /, '');
      if (argv.includes('--json')) {
        stdout.write(redactSecrets(`${JSON.stringify({ ok: false, error: { code: 'usage', message, exitCode: 2 } })}\n`));
      }
      return 2;
    }
    throw error;
  }
  return exitCode;
}

/**
 * Last resort for an error that escapes every command (bin/broadcast.js installs it for uncaught exceptions
 * and rejections): prints it redacted, as all other output is, and exits 1.
 */
export function reportCrash(error: unknown): never {
  const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  process.stderr.write(`${redactSecrets(`error: unexpected failure: ${text}`)}\n`);
  process.exit(1);
}

/**
 * Process signals for one command: the first SIGINT/SIGTERM/SIGHUP aborts the command's signal (the command
 * then stops and reports), a second one exits at once with the signal's exit code.
 */
function ownSignals(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : signal === 'SIGHUP' ? 129 : 143);
    controller.abort(signal);
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  return { signal: controller.signal, release: () => STOP_SIGNALS.forEach((name) => process.off(name, onSignal)) };
}
