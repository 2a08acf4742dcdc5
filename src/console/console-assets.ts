import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';

const PUBLIC_DIR = join(__dirname, 'public');

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export interface ConsoleAsset {
  body: Buffer;
  contentType: string;
  /** Named by its content hash: cached for good. */
  immutable: boolean;
}

/**
 * The console's files, read once at start. Each is served under a name carrying its content
 * hash (cached for a year); index.html, always revalidated, names the current ones, and an
 * import map points the modules' plain imports (`./api.js`) at their hashed names.
 */
export class ConsoleAssets {
  readonly index: string;
  /** Scripts only from here, plus the inline import map by its hash. */
  readonly contentSecurityPolicy: string;
  private readonly files = new Map<string, ConsoleAsset>();

  constructor() {
    const hashedNames = new Map<string, string>();
    for (const file of readdirSync(PUBLIC_DIR)) {
      const contentType = CONTENT_TYPES[extname(file)];
      if (!contentType) continue;
      const body = readFileSync(join(PUBLIC_DIR, file));
      const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
      const hashed = `${file.slice(0, -extname(file).length)}.${hash}${extname(file)}`;
      hashedNames.set(file, hashed);
      this.files.set(hashed, { body, contentType, immutable: true });
      this.files.set(file, { body, contentType, immutable: false });
    }
    const modules = [...hashedNames].filter(([file]) => file.endsWith('.js'));
    const importMap = JSON.stringify({ imports: Object.fromEntries(modules.map(([file, hashed]) => [`./console/${file}`, `./console/${hashed}`])) });
    this.index = readFileSync(join(PUBLIC_DIR, 'index.html'), 'utf8')
      .replace(/console\/([\w-]+\.\w+)/g, (path, file: string) => (hashedNames.has(file) ? `console/${hashedNames.get(file)}` : path))
      .replace('<!-- import map -->', `<script type="importmap">${importMap}</script>`);
    const importMapHash = createHash('sha256').update(importMap).digest('base64');
    this.contentSecurityPolicy = [
      "default-src 'none'",
      `script-src 'self' 'sha256-${importMapHash}'`,
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; ');
  }

  get(name: string): ConsoleAsset | undefined {
    return this.files.get(name);
  }
}
