import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SIGFOX_CALLBACK_TEMPLATES } from '../../src/networks/sigfox/sigfox-callback-templates';

/** The README's ```json sigfox-<name> blocks, as readme-recipes.spec.ts reads them. */
const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
function readmeBlock(name: string): string | undefined {
  return new RegExp('```json ' + name + '\\n([^`]+)```').exec(readme)?.[1].trim();
}

describe('Sigfox callback templates', () => {
  it.each(Object.entries(SIGFOX_CALLBACK_TEMPLATES))('the README block sigfox-%s is the template install uses', (name, template) => {
    expect(readmeBlock(`sigfox-${name}`)).toBe(template);
  });

  it('the README has no Sigfox template that install does not use', () => {
    const names = [...readme.matchAll(/```json sigfox-([\w-]+)\n/g)].map((m) => m[1]).sort();
    expect(names).toEqual(Object.keys(SIGFOX_CALLBACK_TEMPLATES).sort());
  });

  it('every template is JSON once Sigfox fills its variables', () => {
    for (const template of Object.values(SIGFOX_CALLBACK_TEMPLATES)) {
      expect(() => JSON.parse(template.replace(/\{\w+\}/g, '1'))).not.toThrow();
    }
  });
});
