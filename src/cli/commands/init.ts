/** `broadcast init`: writes broadcast.config.ts and .env.example for a new project. */
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { displayPath, SEARCH_PLACES } from '../../config/load.js';
import { UsageError } from '../../core/errors.js';
import { packageRoot } from '../../core/package-root.js';
import { defineCommand } from '../command.js';
import type { Context } from '../context.js';
import { refuseConnectionFlag } from '../input.js';
import { ask, canPrompt, type Question } from '../prompt.js';
import { cliCommand, shellQuote } from '../invocation.js';
import { initDefaults, LOCAL_SOKETI, renderConfig, renderEnvExample, type InitAnswers, type ServerKind } from '../scaffold.js';

export interface InitOptions {
  yes?: boolean;
  force?: boolean;
}

const SERVERS: { name: string; value: ServerKind; short: string }[] = [
  { name: 'soketi, on this machine (Docker, or npm in this application)', value: 'soketi', short: 'soketi' },
  { name: 'Laravel Reverb', value: 'reverb', short: 'Reverb' },
  { name: 'Pusher Channels (hosted)', value: 'pusher', short: 'Pusher Channels' },
];

const exists = (file: string) => stat(file).then(() => true, () => false);

/** One file init wrote or kept. */
export interface InitFile {
  /** As shown to a person (relative to the working folder). */
  file: string;
  written: boolean;
  overwritten: boolean;
}

/** What init wrote, and the connection the config describes (never a secret). */
export interface InitResult {
  /** The config first, then .env.example. */
  files: [InitFile, InitFile];
  server: ServerKind;
  connection: Pick<InitAnswers, 'appId' | 'key' | 'host' | 'port' | 'scheme' | 'cluster'>;
  eventsDir: string;
  authRoute: string;
  /**
   * Whether `pusher-broadcast` resolves from the config's folder. The config loads either way (it imports only
   * types); type-checking it, and event classes (`make:event`), need the package.
   */
  packageInstalled: boolean;
  /**
   * How the next steps run this CLI from the working folder: `npx broadcast` where the application has the
   * package's binary, else `node <path of the bin/broadcast.js that ran init>`.
   */
  cli: string;
  /** When the package is not installed: the command that installs the copy that ran init, for typing. */
  install?: string;
}


export default defineCommand<InitResult>({
  async run(ctx, options: InitOptions) {
    // The config it writes sets its default connection in the file.
    refuseConnectionFlag(ctx, 'init');
    const target = path.resolve(ctx.cwd, ctx.options.config ?? 'broadcast.config.ts');
    const dir = path.dirname(target);
    const shown = displayPath(target, ctx.cwd);
    if (ctx.options.config === undefined) {
      const other = await otherConfig(dir, path.basename(target));
      if (other) {
        throw new UsageError(`${displayPath(other, ctx.cwd)} already configures broadcast here; nothing was written`, {
          hint: `The CLI would keep reading it instead of ${shown}. Remove it first, or write elsewhere with --config <path>`,
        });
      }
    }
    const targetExists = await exists(target);
    if (targetExists && !options.force) {
      throw new UsageError(`${shown} already exists; nothing was written`, { hint: 'Use --force to overwrite it' });
    }

    let answers: InitAnswers;
    if (canPrompt(ctx, options)) {
      answers = await askAnswers(ctx);
    } else {
      answers = initDefaults('soketi');
      if (!options.yes) ctx.io.note('no terminal to ask in: using the defaults for a local soketi (pass --yes to accept them without this note)');
    }

    await mkdir(dir, { recursive: true });
    await writeFile(target, renderConfig(answers));
    const envFile = path.join(dir, '.env.example');
    const envExists = await exists(envFile);
    const envWritten = !envExists || Boolean(options.force);
    if (envWritten) await writeFile(envFile, renderEnvExample(answers));

    const { server, eventsDir, authRoute, ...connection } = answers;
    const packageInstalled = isInstalled(dir);
    return {
      result: {
        files: [
          { file: shown, written: true, overwritten: targetExists },
          { file: displayPath(envFile, ctx.cwd), written: envWritten, overwritten: envExists && envWritten },
        ],
        server,
        connection,
        eventsDir,
        authRoute,
        packageInstalled,
        cli: cliCommand(ctx.cwd),
        ...(packageInstalled ? {} : { install: `npm install --save-dev ${shellQuote(packageRoot())}` }),
      },
    };
  },

  render(io, { files, server, cli, install }) {
    const s = io.style;
    for (const f of files) {
      if (f.written) io.out(`${s.green('✓')} ${f.overwritten ? 'overwrote' : 'created'} ${s.bold(f.file)}`);
      else io.out(`  kept the existing ${f.file} (--force replaces it)`);
    }
    if (install) {
      io.warn('pusher-broadcast is not installed in this application. The config loads without it (it imports only types);');
      io.note('  to type-check it, and for event classes (make:event), install it, from the copy that ran this command:');
      io.note(`    ${install}`);
      io.note('  or, once it is published on npm: npm install --save-dev pusher-broadcast');
    }
    const config = files[0].file;
    // The CLI finds broadcast.config.ts in the working folder by itself; anywhere else it needs --config.
    const run = `${cli}${config === 'broadcast.config.ts' ? '' : ` --config ${shellQuote(config)}`}`;
    if (server === 'soketi') {
      for (const line of LOCAL_SOKETI) io.out(line);
    } else {
      io.out('Set PUSHER_APP_SECRET in the environment: the config reads it, and it is not in the file.');
    }
    // Only commands that run as printed, from the working folder.
    io.out('next:');
    io.out(`  check the config:     ${run} config`);
    io.out(`  create an event:      ${run} make:event OrderShipped`);
  },
});

async function askAnswers(ctx: Context): Promise<InitAnswers> {
  const { server } = await ask(ctx, [{ type: 'select', name: 'server', message: 'Server', default: 'soketi', choices: SERVERS }]);
  const defaults = initDefaults(server as ServerKind);
  const required = (what: string) => (value: string) => (value.trim() === '' ? `${what} is required` : true);
  const questions: Question[] =
    defaults.server === 'pusher'
      ? [{ type: 'input', name: 'cluster', message: 'Cluster', default: defaults.cluster!, validate: required('The cluster') }]
      : [
          {
            type: 'input',
            name: 'host',
            message: 'Host',
            default: defaults.host!,
            validate: (v) => (/^[^\s/:]+$/.test(v.trim()) ? true : 'A host name or IP address, without scheme or port'),
          },
          {
            type: 'input',
            name: 'port',
            message: 'Port',
            default: String(defaults.port),
            validate: (v) => (/^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 65535 ? true : 'A port number, 1-65535'),
          },
          {
            type: 'select',
            name: 'scheme',
            message: 'Scheme',
            default: defaults.scheme!,
            choices: [{ name: 'http', value: 'http' }, { name: 'https', value: 'https' }],
          },
        ];
  questions.push(
    { type: 'input', name: 'appId', message: 'App ID', default: defaults.appId, validate: required('The app ID') },
    { type: 'input', name: 'key', message: 'App key', default: defaults.key, validate: required('The app key') },
    { type: 'input', name: 'eventsDir', message: 'Folder for event classes', default: defaults.eventsDir, validate: required('The folder') },
  );
  const a = await ask(ctx, questions);
  return {
    ...defaults,
    appId: a.appId!.trim(),
    key: a.key!.trim(),
    eventsDir: a.eventsDir!.trim(),
    ...(defaults.server === 'pusher'
      ? { cluster: a.cluster!.trim() }
      : { host: a.host!.trim(), port: Number(a.port), scheme: a.scheme as 'http' | 'https' }),
  };
}

/** Another config file in `dir` that the CLI would read instead of (or besides) the one being written. */
async function otherConfig(dir: string, basename: string): Promise<string | undefined> {
  for (const place of SEARCH_PLACES) {
    if (place === basename) continue;
    const file = path.join(dir, place);
    if (!(await exists(file))) continue;
    if (place !== 'package.json') return file;
    try {
      if ((JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>).broadcast !== undefined) return file;
    } catch {
      // An unreadable package.json is not a broadcast config.
    }
  }
  return undefined;
}

/** Whether `import 'pusher-broadcast'` resolves from `dir`. */
function isInstalled(dir: string): boolean {
  try {
    createRequire(path.join(dir, 'noop.js')).resolve('pusher-broadcast/package.json');
    return true;
  } catch {
    return false;
  }
}
