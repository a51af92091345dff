#!/usr/bin/env node
// Places the preloadable libraries (and the agent's LD_AUDIT stage) at their stable paths (build/lib/*.so),
// wherever node-gyp's make generator put them.
'use strict';
const fs = require('fs');
const path = require('path');
const root = path.resolve(__dirname, '..');
const out = path.join(root, 'build', 'lib');
fs.mkdirSync(out, { recursive: true });
for (const name of ['libbpftime-syscall-server.so', 'libbpftime-agent.so', 'libbpftime-early.so']) {
  const candidates = ['Release/lib.target', 'Release', 'Debug/lib.target', 'Debug']
    .map((d) => path.join(root, 'build', d, name));
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    console.error(`copy-libs: ${name} was not built (looked in ${candidates.join(', ')})`);
    process.exit(1);
  }
  // Copy then rename: processes running with the old library keep their mapping intact
  // (writing over a mapped .so in place crashes them).
  const dest = path.join(out, name);
  fs.copyFileSync(found, dest + '.tmp');
  fs.renameSync(dest + '.tmp', dest);
}
