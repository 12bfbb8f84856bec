#!/usr/bin/env node
// Thin shim: the CLI lives in dist/cli.js (built from src/cli.ts).
import { main } from '../dist/cli.js';

process.exitCode = await main(process.argv);
