import { randomInt } from 'node:crypto';
import { jsonMayHoldUnstorableText, unstorableText } from '../../src/common/storable-text';

describe('jsonMayHoldUnstorableText: JSON text that needs no walk for what Postgres cannot store', () => {
  it('sees NUL and lone surrogates in JSON text, by their escapes', () => {
    for (const value of [{ a: 'x\u0000y' }, ['\ud800'], { 'key\udc00': 1 }, 'tail\udbff', { nested: [{ deep: '\u0000' }] }]) {
      expect(unstorableText(value)).not.toBeNull();
      expect(jsonMayHoldUnstorableText(JSON.stringify(value))).toBe(true);
    }
    expect(jsonMayHoldUnstorableText('{"a":"\\u0000"}')).toBe(true);
    expect(jsonMayHoldUnstorableText('{"a":"\\uD83D"}')).toBe(true);
  });

  it('lets through text without them, paired surrogates (emoji) and other escapes included', () => {
    expect(jsonMayHoldUnstorableText(JSON.stringify({ t: 21.5, name: 'caf\u00e9 😀', control: '\u0001\n' }))).toBe(false);
    expect(jsonMayHoldUnstorableText('{"a":"\\u00e9\\u0041"}')).toBe(false);
  });

  it('never lets through a value that unstorableText refuses (random strings of risky code units)', () => {
    const units = [0x0, 0x41, 0x5c, 0x75, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe9];
    for (let i = 0; i < 5000; i++) {
      const text = String.fromCharCode(...Array.from({ length: randomInt(1, 6) }, () => units[randomInt(units.length)]));
      const value = randomInt(2) ? { [text]: 1 } : { v: [text] };
      if (unstorableText(value)) expect(jsonMayHoldUnstorableText(JSON.stringify(value))).toBe(true);
    }
  });
});
