#!/usr/bin/env node
// The Node CLI. `bpftime` itself is bin/bpftime, a sh launcher that runs the plain start/load
// forms without Node and hands everything else here.
'use strict';
require('../dist/src-ts/cli/main.js').main(process.argv);
