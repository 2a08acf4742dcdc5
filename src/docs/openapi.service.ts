import { Injectable, RequestMethod } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { z } from 'zod';
import { IS_PUBLIC } from '../auth/public.decorator';
import { API_DOC, ApiDocOptions } from './api-doc.decorator';

const METHODS: Partial<Record<RequestMethod, string>> = {
  [RequestMethod.GET]: 'get',
  [RequestMethod.POST]: 'post',
  [RequestMethod.PUT]: 'put',
  [RequestMethod.PATCH]: 'patch',
  [RequestMethod.DELETE]: 'delete',
};

type Operation = Record<string, unknown>;

function jsonSchema(schema: z.ZodType): unknown {
  // "input": what a client sends, before defaults and transforms.
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}

/** The OpenAPI document, built from the routes Nest serves and the zod schemas they validate with. */
@Injectable()
export class OpenApiService {
  private document?: Record<string, unknown>;

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  build(version: string): Record<string, unknown> {
    if (this.document) return this.document;
    const paths: Record<string, Record<string, Operation>> = {};
    for (const wrapper of this.discovery.getControllers()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || !wrapper.metatype) continue;
      const base = [this.reflector.get<string | string[]>('path', wrapper.metatype)].flat()[0] ?? '';
      const classPublic = this.reflector.get<boolean>(IS_PUBLIC, wrapper.metatype) ?? false;
      for (const name of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance))) {
        const handler = instance[name] as (...args: unknown[]) => unknown;
        const method = METHODS[this.reflector.get<RequestMethod>('method', handler)];
        const routePath = this.reflector.get<string | string[]>('path', handler);
        if (!method || routePath === undefined) continue;
        const path = `/${[base, [routePath].flat()[0]].filter((p) => p && p !== '/').join('/')}`.replace(/\/+/g, '/').replace(/:(\w+)/g, '{$1}');
        const doc = this.reflector.get<ApiDocOptions | undefined>(API_DOC, handler);
        const isPublic = classPublic || (this.reflector.get<boolean>(IS_PUBLIC, handler) ?? false);
        (paths[path] ??= {})[method] = this.operation(path, doc, isPublic, base.split('/').filter(Boolean).slice(0, 2).join(' '));
      }
    }
    this.document = {
      openapi: '3.1.0',
      info: { title: 'lpwan-bridge', version, description: 'Helium, Sigfox, The Things Stack and ChirpStack in, one normalized event out.' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'One of API_KEYS' } } },
      paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    };
    return this.document;
  }

  private operation(path: string, doc: ApiDocOptions | undefined, isPublic: boolean, tag: string): Operation {
    const parameters: unknown[] = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    if (doc?.query) {
      const schema = jsonSchema(doc.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        parameters.push({ name, in: 'query', required: schema.required?.includes(name) ?? false, schema: property });
      }
    }
    return {
      summary: doc?.summary ?? path,
      tags: [tag || 'other'],
      ...(isPublic ? {} : { security: [{ apiKey: [] }] }),
      ...(parameters.length ? { parameters } : {}),
      // A body schema that accepts nothing at all (all defaults) makes the body optional.
      ...(doc?.body ? { requestBody: { required: !doc.body.safeParse(undefined).success, content: { 'application/json': { schema: jsonSchema(doc.body) } } } } : {}),
      responses: {
        [String(doc?.status ?? 200)]: { description: 'OK', ...(doc?.example ? { content: { 'application/json': { example: doc.example } } } : {}) },
        ...(isPublic ? {} : { '401': { description: 'Missing or invalid API key' } }),
        '400': { description: 'Invalid input: `{ statusCode, error, message }` naming the field' },
      },
    };
  }
}
