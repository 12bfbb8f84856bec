#!/usr/bin/env node
// Thin shim: the CLI lives in dist/cli/main.js (built from src/cli/main.ts).
import { main, reportCrash } from '../dist/cli/main.js';

// An error no command caught (a crash in a callback) is printed redacted, like all other output.
process.on('uncaughtException', reportCrash);
process.on('unhandledRejection', reportCrash);
process.exitCode = await main(process.argv).catch(reportCrash);
