// A V8 code cache for the server's own modules. A server starts cold whenever a tool finds none
// running, and a fifth of that start was compiling the same ~80 files again (Node 20 has no
// module.enableCompileCache). Each module of this checkout is compiled with the code V8 made
// last time, when it is still valid (V8 checks the source and its flags, and recompiles if not);
// a second after start, once the first calls have compiled what they use, the code of modules
// that had none is written beside the build output (dist/.v8-cache), keyed by file, size, mtime
// and Node version. Only this checkout's files, and only where the checkout is writable: whoever
// can write there can change the server's JavaScript anyway.
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const Module = require('module');

const distRoot = path.resolve(__dirname, '..', '..');
const cacheDir = path.join(distRoot, '.v8-cache');

function keyOf(filename: string): string | null {
  try {
    const st = fs.statSync(filename);
    const rel = path.relative(distRoot, filename).replace(/[/\\]/g, '__');
    return path.join(cacheDir, `${rel}-${st.size}-${Math.floor(st.mtimeMs)}-${process.version}-${process.arch}`);
  } catch {
    return null;
  }
}

export function installCompileCache(): void {
  if (process.env.BPFTIME_NO_CODE_CACHE) return;
  try {
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    fs.accessSync(cacheDir, fs.constants.W_OK);
  } catch {
    return; // a read-only checkout: compile as usual
  }
  const fresh: Array<{ script: vm.Script; key: string }> = [];
  const compile = Module.prototype._compile;
  Module.prototype._compile = function (this: any, content: string, filename: string) {
    const key = filename.startsWith(distRoot + path.sep) && filename.endsWith('.js') ? keyOf(filename) : null;
    if (!key) return compile.call(this, content, filename);
    let cachedData: Buffer | undefined;
    try {
      cachedData = fs.readFileSync(key);
    } catch {
      // none yet
    }
    const script = new vm.Script(Module.wrap(content), { filename, cachedData });
    if (!cachedData || script.cachedDataRejected) fresh.push({ script, key });
    const fn = script.runInThisContext({ displayErrors: true });
    const mod = this;
    const require = (id: string) => mod.require(id);
    require.resolve = (request: string, options?: unknown) => Module._resolveFilename(request, mod, false, options);
    require.main = process.mainModule;
    require.cache = Module._cache;
    require.extensions = Module._extensions;
    return fn.call(mod.exports, mod.exports, require, mod, filename, path.dirname(filename));
  };
  setTimeout(() => {
    let old: string[] = [];
    try {
      old = fs.readdirSync(cacheDir);
    } catch {
      return;
    }
    for (const { script, key } of fresh.splice(0)) {
      try {
        const tmp = `${key}.${process.pid}`;
        fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        fs.renameSync(tmp, key);
        // the code of earlier builds of the same file goes
        const base = path.basename(key);
        const file = base.slice(0, base.indexOf('.js-') + 3);
        for (const o of old) if (o !== base && o.startsWith(file + '-')) fs.rmSync(path.join(cacheDir, o), { force: true });
      } catch {
        // a full disk or a read-only checkout: nothing lost but the next start's time
      }
    }
  }, 1000).unref();
}
