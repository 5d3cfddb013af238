#!/usr/bin/env node
// The `itl` entry called by npm scripts and cluster batch jobs; the CLI itself is compiled
// from lib/cli (run `npm run build` first).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
