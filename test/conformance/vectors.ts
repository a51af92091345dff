// Locates and loads the shared conformance vectors (../shared/conformance/tests relative to
// the repository root). Used by the conformance test and the assembler round-trip test.
import fs from 'node:fs';
import path from 'node:path';

import { ConformanceTest, parseConformanceFile } from '../../src-ts/asm/conformance-format';

/** The repository root, found from this file whether it runs from dist/ or the sources. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'binding.gyp'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

export const VECTOR_DIR = path.resolve(repoRoot(), '..', 'shared', 'conformance', 'tests');

export interface Vector extends ConformanceTest {
  name: string; // file name without .data
}

/** All vectors, sorted by name; empty when the directory is absent. */
export function loadVectors(): Vector[] {
  if (!fs.existsSync(VECTOR_DIR)) return [];
  return fs.readdirSync(VECTOR_DIR)
    .filter((f) => f.endsWith('.data'))
    .sort()
    .map((f) => ({ name: f.slice(0, -'.data'.length), ...parseConformanceFile(fs.readFileSync(path.join(VECTOR_DIR, f), 'utf8')) }));
}
