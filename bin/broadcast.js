#!/usr/bin/env node
// Thin shim: the CLI lives in dist/cli.js (built from src/cli.ts).
import { main, reportCrash } from '../dist/cli.js';

// An error no command caught (a crash in a callback) is printed redacted, like all other output.
process.on('uncaughtException', reportCrash);
process.on('unhandledRejection', reportCrash);
process.exitCode = await main(process.argv).catch(reportCrash);
