#!/usr/bin/env node
/** Entry point of the `cryptoassets` binary. */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv);
