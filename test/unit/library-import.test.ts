/**
 * A web app that imports the library must not pay for the CLI: no commander, chalk, inquirer, cosmiconfig,
 * jiti or pusher-js on import, and no side effects (process listeners, output).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { runLoggingModules } from '../helpers/loaded.js';

it('importing the library loads none of the CLI dependencies and changes nothing in the process', () => {
  const script = `
const events = ['exit', 'SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection', 'beforeExit'];
const before = events.map((e) => process.listenerCount(e));
const lib = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/index.js')).href)});
const after = events.map((e) => process.listenerCount(e));
console.log(JSON.stringify({ exports: Object.keys(lib), before, after }));
`;
  const { result, loaded: urls } = runLoggingModules(['--input-type=module', '-e', script]);
  expect(result.stderr).toBe('');
  const report = JSON.parse(result.stdout);
  expect(report.exports.length).toBeGreaterThan(10);
  // What a user calls; the CLI's internals (the bulk scheduler, the rule matchers) stay out of the API.
  expect(report.exports).toEqual(expect.arrayContaining(['Broadcast', 'CanBroadcast', 'createAuthHandler', 'defineConfig', 'verifyWebhook', 'createSubscriber', 'ERROR_CODES']));
  for (const internal of ['sendBulk', 'ChannelScheduler', 'compileRules', 'matchRule', 'compilePattern', 'safeEqual']) expect(report.exports).not.toContain(internal);
  expect(report.after).toEqual(report.before);
  const loaded = urls.join('\n');
  expect(loaded).toContain('/dist/index.js');
  for (const heavy of ['commander', 'chalk', 'inquirer', 'cosmiconfig', 'jiti', 'pusher-js', '/node_modules/pusher/']) {
    expect(loaded, `${heavy} must not load on import`).not.toContain(heavy);
  }
  // The build bundles commander into the CLI's entry, and the CLI's own modules into chunks of their own.
  expect(loaded).not.toContain('/dist/cli/');
  expect(loaded).not.toMatch(/\/dist\/chunks\/cli-/);
});
