#!/usr/bin/env node
// Entry point of the `totes` command: runs the TypeScript CLI through tsx, no build step needed.
require('tsx/cjs');
require('./main.ts');
