#!/usr/bin/env node
'use strict';
require('../dist/src-ts/cli/main.js').main(process.argv);
