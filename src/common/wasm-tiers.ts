import { setFlagsFromString } from 'node:v8';

/**
 * V8 runs WebAssembly compiled by Liftoff (fast to compile, slow to run), and recompiles hot
 * functions with TurboFan. The production process turns TurboFan off for the process
 * (useLiftoffOnly), for Prisma's query compiler: it would hold ~50 MB, and the hot path does not
 * go through Prisma. The codec sandbox's QuickJS is the hot path: under Liftoff alone a typical
 * codec call costs ~1.7× the CPU. V8 reads these flags when it compiles a module, so a module
 * compiled synchronously between two changes of them keeps both tiers, and the others do not.
 */
let liftoffOnly = false;

/** Called once at start by the production process, before Prisma compiles its module. */
export function useLiftoffOnly(): void {
  setFlagsFromString('--liftoff-only');
  liftoffOnly = true;
}

/**
 * Compiles a module that keeps TurboFan for its hot functions whatever useLiftoffOnly said.
 * Synchronous, on the thread that called useLiftoffOnly: no other module of this thread (Prisma's)
 * can be compiled while the flags are changed.
 */
export function compileWithBothTiers(bytes: Uint8Array): WebAssembly.Module {
  if (!liftoffOnly) return new WebAssembly.Module(bytes);
  // --liftoff-only also turned dynamic tiering off (a V8 flag implication): both come back.
  setFlagsFromString('--no-liftoff-only');
  setFlagsFromString('--wasm-dynamic-tiering');
  try {
    return new WebAssembly.Module(bytes);
  } finally {
    setFlagsFromString('--liftoff-only');
  }
}
