#!/usr/bin/env node
// Thin shim: the CLI lives in dist/cli/main.js (built from src/cli/main.ts).
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // Answered before the program is built: scripts ask for the version often, and start-up is what they pay.
  const { readFileSync } = await import('node:fs');
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  const { main, reportCrash } = await import('../dist/cli/main.js');
  // An error no command caught (a crash in a callback) is printed redacted, like all other output.
  process.on('uncaughtException', reportCrash);
  process.on('unhandledRejection', reportCrash);
  process.exitCode = await main(process.argv).catch(reportCrash);
}
