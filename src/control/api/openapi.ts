// The OpenAPI 3.1 document of the REST API, built from the route list and the zod schemas the
// routes validate with (z.toJSONSchema, JSON Schema 2020-12 — the dialect OpenAPI 3.1 uses).
// Request bodies are described as the schemas' input types, responses as their output types.
import { z } from 'zod';
import {
  credentialAddSchema,
  loginPasswordSchema,
  passwdSchema,
  peerAddSchema,
  peerRotateSchema,
  tierCreateSchema,
  tierUpdateSchema,
  tokenCreateSchema,
  userAddSchema,
  userUpdateSchema,
} from '../service/schemas.js';
import type { Route } from './routes.js';
import {
  auditViewSchema,
  connectionRecordSchema,
  credentialSecretSchema,
  credentialViewSchema,
  errorSchema,
  killedSchema,
  peerViewSchema,
  sessionViewSchema,
  statusSchema,
  tierDetailSchema,
  tierViewSchema,
  tokenCreatedSchema,
  tokenViewSchema,
  usageReportSchema,
  userAddedSchema,
  userDetailSchema,
  userExportSchema,
  userViewSchema,
} from './view-schemas.js';

export const API_PREFIX = '/api/v1';

type Json = Record<string, unknown>;

/** Named response schemas (components.schemas), described as output. */
const OUTPUTS: Record<string, z.ZodType> = {
  UserView: userViewSchema,
  UserDetail: userDetailSchema,
  UserAdded: userAddedSchema,
  UserExport: userExportSchema,
  CredentialView: credentialViewSchema,
  CredentialSecret: credentialSecretSchema,
  TokenView: tokenViewSchema,
  TokenCreated: tokenCreatedSchema,
  TierView: tierViewSchema,
  TierDetail: tierDetailSchema,
  PeerView: peerViewSchema,
  UsageReport: usageReportSchema,
  AuditEvent: auditViewSchema,
  ConnectionRecord: connectionRecordSchema,
  Session: sessionViewSchema,
  Killed: killedSchema,
  Status: statusSchema,
  Error: errorSchema,
};

/** Named request bodies: the control service's own input schemas, described as input. */
const INPUTS: Record<string, z.ZodType> = {
  UserAdd: userAddSchema,
  UserUpdate: userUpdateSchema,
  Passwd: passwdSchema,
  LoginPassword: loginPasswordSchema,
  CredentialAdd: credentialAddSchema,
  TokenCreate: tokenCreateSchema,
  TierCreate: tierCreateSchema,
  TierUpdate: tierUpdateSchema,
  PeerAdd: peerAddSchema,
  PeerRotate: peerRotateSchema,
};

const REF = (id: string) => `#/components/schemas/${id}`;

/** Drops the keys that belong to a standalone JSON Schema document, not to an embedded one. */
function embed(s: Json): Json {
  const { $schema: _s, $id: _i, ...rest } = s;
  return rest;
}

/** Rewrites "#/$defs/X" to the component X everywhere in a generated schema. */
function relink(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(relink);
  if (v && typeof v === 'object') {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === '$defs') continue;
      out[k] =
        k === '$ref' && typeof x === 'string'
          ? x.replace(/^#\/\$defs\//, '#/components/schemas/')
          : relink(x);
    }
    return out;
  }
  return v;
}

class SchemaSet {
  private readonly registry = z.registry<{ id: string }>();
  private readonly ids = new Map<z.ZodType, string>();

  constructor(
    named: Record<string, z.ZodType>,
    private readonly io: 'input' | 'output',
  ) {
    for (const [id, s] of Object.entries(named)) {
      this.registry.add(s, { id });
      this.ids.set(s, id);
    }
  }

  components(): Record<string, Json> {
    const { schemas } = z.toJSONSchema(this.registry, { uri: REF, io: this.io, unrepresentable: 'any' });
    return Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, embed(v as Json)]));
  }

  /** A $ref for a named schema, else the schema inline (its named parts as $refs). */
  ref(s: z.ZodType): Json {
    const id = this.ids.get(s);
    if (id) return { $ref: REF(id) };
    const js = z.toJSONSchema(s, { metadata: this.registry, io: this.io, unrepresentable: 'any' }) as Json;
    return relink(embed(js)) as Json;
  }
}

/** "/users/:name" → "/users/{name}" (OpenAPI 3.1 path templating). */
const templated = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}');

/** The fields of an object schema, for path and query parameters. */
function fields(s: z.ZodType | undefined): [string, z.ZodType][] {
  if (!s) return [];
  const shape = (s as unknown as { shape?: Record<string, z.ZodType> }).shape;
  if (!shape) throw new Error('parameters must be a z.object');
  return Object.entries(shape);
}

function parameters(r: Route, inputs: SchemaSet): Json[] {
  const out: Json[] = [];
  for (const [name, s] of fields(r.params))
    out.push({ name, in: 'path', required: true, schema: inputs.ref(s) });
  for (const [name, s] of fields(r.query))
    out.push({ name, in: 'query', required: !s.safeParse(undefined).success, schema: inputs.ref(s) });
  return out;
}

export function buildOpenApi(routes: Route[], version: string): Json {
  const inputs = new SchemaSet(INPUTS, 'input');
  const outputs = new SchemaSet(OUTPUTS, 'output');
  const errorRef = { $ref: '#/components/responses/Error' };
  const paths: Record<string, Record<string, Json>> = {};

  for (const r of routes) {
    const path = API_PREFIX + templated(r.path);
    const op: Json = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters: parameters(r, inputs),
      responses: {
        [String(r.status)]:
          r.status === 204
            ? { description: 'Done' }
            : {
                description: r.status === 201 ? 'Created' : 'OK',
                content: { 'application/json': { schema: outputs.ref(r.response!) } },
              },
        '401': { $ref: '#/components/responses/Unauthorized' },
        default: errorRef,
      },
    };
    if (r.body)
      op.requestBody = {
        required: !r.bodyOptional,
        content: { 'application/json': { schema: inputs.ref(r.body) } },
      };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }

  paths[`${API_PREFIX}/openapi.json`] = {
    get: {
      operationId: 'openapi',
      summary: 'This document',
      tags: ['server'],
      security: [],
      responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': {} } } },
    },
  };
  paths['/metrics'] = {
    get: {
      operationId: 'metrics',
      summary:
        'Prometheus text exposition; needs a read or admin token unless api.metrics_public is set (loopback only)',
      tags: ['server'],
      responses: {
        '200': {
          description: 'Prometheus text format 0.0.4',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
        '401': { $ref: '#/components/responses/Unauthorized' },
        default: errorRef,
      },
    },
  };

  const errorContent = { 'application/json': { schema: { $ref: REF('Error') } } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ferry management API',
      version,
      description:
        'Users, credentials, tiers, tokens, WireGuard devices, usage, audit and live sessions of a Ferry gateway. ' +
        'Every error is {"error":{"code","message"}} with a stable code. See docs/api.md.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    tags: ['users', 'credentials', 'tokens', 'tiers', 'peers', 'usage', 'audit', 'sessions', 'server'].map(
      (name) => ({ name }),
    ),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API token from `ferry token create` (fy_...), in Authorization: Bearer (RFC 6750 §2.1)',
        },
      },
      responses: {
        Unauthorized: { description: 'No token, or an unknown or expired one', content: errorContent },
        Error: { description: 'An error with a stable code', content: errorContent },
      },
      schemas: { ...inputs.components(), ...outputs.components() },
    },
  };
}
