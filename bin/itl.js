#!/usr/bin/env node
// The `itl` entry called by npm scripts and cluster batch jobs; the CLI itself is compiled
// from lib/cli (run `npm run build` first).
import { main } from '../dist/cli/main.js';

// `itl … | head` closes the pipe early: that is the reader's choice, not a failure.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2));
