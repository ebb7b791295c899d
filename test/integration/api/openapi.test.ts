// The OpenAPI document served at /api/v1/openapi.json: valid against the OpenAPI 3.1 schema
// (@seriousme/openapi-schema-validator, which checks the document with the specification's own JSON
// Schema), every $ref resolves, every route is described with its path parameters, and nothing is
// described that the server does not serve.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { ROUTES } from '../../../src/control/api/routes.js';
import { http, startHarness, type Harness } from './harness.js';

let h: Harness;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let doc: any;

before(async () => {
  h = await startHarness({}, 'ferry-openapi-');
  const r = await http(h.server.url, 'GET', '/api/v1/openapi.json');
  assert.equal(r.status, 200, 'the document needs no token');
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  doc = r.json;
});
after(() => h?.close());

/** RFC 6901 JSON Pointer, for "#/..." references within the document. */
function resolvePointer(root: unknown, ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `only local references are used: ${ref}`);
  let cur: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !(key in cur)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function refsIn(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refsIn(x, out);
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x);
      else refsIn(x, out);
    }
  return out;
}

describe('OpenAPI document', () => {
  it('validates against the OpenAPI 3.1 schema', async () => {
    const v = new Validator();
    const res = await v.validate(structuredClone(doc));
    assert.ok(res.valid, `invalid OpenAPI document: ${JSON.stringify(res.errors, null, 2)}`);
    assert.equal(v.version, '3.1');
  });

  it('every $ref resolves, and no schema carries standalone-document keys', () => {
    const refs = refsIn(doc);
    assert.ok(refs.length > 20);
    for (const ref of new Set(refs))
      assert.notEqual(resolvePointer(doc, ref), undefined, `unresolved ${ref}`);
    for (const [name, s] of Object.entries(doc.components.schemas as Record<string, object>)) {
      assert.ok(!('$schema' in s) && !('$id' in s), `${name} has $schema/$id`);
      assert.ok(!JSON.stringify(s).includes('#/$defs/'), `${name} points into $defs`);
    }
  });

  it('describes every route with its path parameters, and unique operation ids', () => {
    const ids = new Set<string>();
    for (const r of ROUTES) {
      const path = '/api/v1' + r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${path} is missing`);
      assert.equal(op.operationId, r.operationId);
      assert.ok(!ids.has(op.operationId), `duplicate ${op.operationId}`);
      ids.add(op.operationId);
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters as { name: string; in: string; required: boolean }[])
        .filter((p) => p.in === 'path')
        .map((p) => {
          assert.equal(p.required, true, `path parameter ${p.name} must be required`);
          return p.name;
        })
        .sort();
      assert.deepEqual(declared, templated, `${path}: path parameters`);
      const ok = op.responses[String(r.status)];
      assert.ok(ok, `${path}: ${r.status} response`);
      if (r.status !== 204) assert.ok(ok.content['application/json'].schema, `${path}: response schema`);
      if (r.body) assert.ok(op.requestBody.content['application/json'].schema, `${path}: request schema`);
    }
    // Nothing else under /api/v1 than the routes and the document itself.
    const described = Object.entries(doc.paths as Record<string, object>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m} ${p}`),
    );
    assert.equal(described.length, ROUTES.length + 2, 'routes + openapi.json + /metrics');
  });

  it('request schemas are the service schemas: strict objects with their constraints', () => {
    const add = doc.components.schemas.UserAdd;
    assert.equal(add.additionalProperties, false);
    assert.deepEqual(add.required, ['name']);
    assert.ok(add.properties.name.pattern, 'the name rule is in the document');
    assert.equal(add.properties.password.minLength, 8);
    const tier = doc.components.schemas.TierCreate;
    assert.ok(
      tier.properties.quota.anyOf.some((s: { type?: string }) => s.type === 'string'),
      'sizes like "10M"',
    );
    const post = doc.paths['/api/v1/users'].post;
    assert.equal(post.requestBody.content['application/json'].schema.$ref, '#/components/schemas/UserAdd');
    assert.equal(
      post.responses['201'].content['application/json'].schema.$ref,
      '#/components/schemas/UserAdded',
    );
    const list = doc.paths['/api/v1/users'].get.responses['200'].content['application/json'].schema;
    assert.deepEqual(list, { type: 'array', items: { $ref: '#/components/schemas/UserView' } });
  });

  it('every served route answers as described: an unknown method/path pair is 404', async () => {
    // Spot-check against the live server: each described GET without parameters exists (401, not 404).
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      if (!('get' in ops) || path.includes('{') || path.endsWith('openapi.json')) continue;
      const r = await http(h.server.url, 'GET', path);
      assert.equal(r.status, 401, `${path} answered ${r.status}`);
    }
    assert.equal((await http(h.server.url, 'PUT', '/api/v1/tiers', { token: h.adminToken })).status, 404);
  });
});
