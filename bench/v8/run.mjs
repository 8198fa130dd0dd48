// Runs bench/v8's wasm32-wasip1 build in node's V8 (WASI preview1). meshguard's proxy-wasm
// exports need `env.proxy_*` imports: stubs, never called by the core benchmarks.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv, env } from 'node:process';

const wasi = new WASI({ version: 'preview1', args: ['meshguard-bench-v8', ...argv.slice(3)], env });
const module = await WebAssembly.compile(await readFile(argv[2]));
const imports = { wasi_snapshot_preview1: wasi.wasiImport, env: {} };
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module === 'env' && imp.kind === 'function') {
    imports.env[imp.name] = () => { throw new Error(`host call ${imp.name} in a core benchmark`); };
  }
}
const instance = await WebAssembly.instantiate(module, imports);
// Node's WASI refuses a module exporting both `_start` and proxy-wasm's `_initialize`: hand it
// only what a command needs.
wasi.start({ exports: { memory: instance.exports.memory, _start: instance.exports._start } });
