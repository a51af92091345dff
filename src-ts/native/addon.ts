// Loads the N-API addon (build/Release/bpftime_addon.node). Every area of the addon adds its
// functions to this one object; the typed wrappers live beside their users.
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..', '..');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const addon: any = require(path.join(root, 'build', 'Release', 'bpftime_addon.node'));
export const projectRoot = root;
