import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Built code (npm test builds first): V8's flags are the process's, so this runs in a process of its own. */
const DIST = join(__dirname, '../../dist');

describe('codecs in a process that turned TurboFan off for WebAssembly (as main.ts does)', () => {
  it('QuickJS, compiled between two changes of the flags, decodes', () => {
    const script = `
      const { useLiftoffOnly } = require(${JSON.stringify(join(DIST, 'common/wasm-tiers.js'))});
      useLiftoffOnly();
      const { CodecRunner } = require(${JSON.stringify(join(DIST, 'codecs/codec-runner.service.js'))});
      const runner = new CodecRunner();
      const codec = 'function decodeUplink(input) { return { data: { sum: input.bytes.reduce(function (a, b) { return a + b }, 0) } } }';
      runner.decode('sum@1', codec, '0102ff', 1, 0).then(({ decoding }) => {
        console.log(JSON.stringify(decoding));
        runner.onModuleDestroy();
      });`;
    const output = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(JSON.parse(output)).toEqual({ decoded: { sum: 258 }, decodeErrors: [], decodeWarnings: [] });
  });
});
