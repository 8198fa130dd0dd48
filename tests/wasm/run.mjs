// Runs a wasm32-wasip1 test binary in node's V8 (cargo's runner for `make unit`): the pure
// core's unit tests on the target the plugin ships for, with its 32-bit usize and its SIMD
// arithmetic, not only natively. The proxy's host functions are not there: a test that reached
// one would fail with the call's name.
import { WASI } from "node:wasi";
import fs from "node:fs";

const [wasm, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: "preview1", args: [wasm, ...args], env: process.env, returnOnExit: true });
const module = await WebAssembly.compile(fs.readFileSync(wasm));
const imports = wasi.getImportObject();
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.kind === "function" && !(imp.module in imports && imp.name in imports[imp.module])) {
    imports[imp.module] ??= {};
    imports[imp.module][imp.name] = () => {
      throw new Error(`host function ${imp.module}.${imp.name} called outside a proxy`);
    };
  }
}
const instance = await WebAssembly.instantiate(module, imports);
// The proxy-wasm SDK exports `_initialize` as well, which node's WASI refuses next to `_start`:
// hand it the command's entry alone.
process.exitCode = wasi.start({ exports: { memory: instance.exports.memory, _start: instance.exports._start } });
