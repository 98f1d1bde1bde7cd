/**
 * JSON schema (draft-07, validated with ajv) of the kpack format-version-1 document
 * (see ./format.ts for the meaning of each field). Checked on every load and before every write.
 * Cross-field invariants the schema cannot express (blob hashes, entry->blob references, bucket
 * uniqueness, lo <= hi) are checked in ./read.ts (checkDocument).
 */
const num = { type: 'number' } as const;
const nonNeg = { type: 'number', minimum: 0 } as const;
const range = {
  type: 'array',
  items: [
    { type: 'integer', minimum: 0 },
    { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'null' }] },
  ],
  minItems: 2,
  maxItems: 2,
  additionalItems: false,
} as const;
const scalarMap = {
  type: 'object',
  additionalProperties: { type: ['number', 'string', 'boolean'] },
} as const;
const sha = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

export const packSchemaV1 = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://kpack.dev/schema/kpack-1.json',
  title: 'kpack kernel pack, format version 1',
  type: 'object',
  required: ['format', 'formatVersion', 'createdAt', 'device', 'toolchain', 'entries', 'blobs'],
  additionalProperties: false,
  properties: {
    format: { const: 'kpack' },
    formatVersion: { const: 1 },
    createdAt: { type: 'string', minLength: 1 },
    device: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          required: ['vendorId', 'deviceId', 'driverName', 'driverVersion', 'apiVersion', 'deviceName'],
          additionalProperties: false,
          properties: {
            vendorId: { type: 'integer', minimum: 0 },
            deviceId: { type: 'integer', minimum: 0 },
            driverName: { type: 'string' },
            driverVersion: { type: 'integer', minimum: 0 },
            apiVersion: { type: 'string' },
            deviceName: { type: 'string' },
            driverInfo: { type: 'string' },
          },
        },
      ],
    },
    toolchain: {
      type: 'object',
      required: ['kpack', 'glslang', 'handlebars', 'node'],
      properties: {
        kpack: { type: 'string' },
        glslang: { type: 'string' },
        handlebars: { type: 'string' },
        node: { type: 'string' },
      },
      additionalProperties: { type: 'string' },
    },
    tuning: {
      type: 'object',
      properties: {
        budgetMs: nonNeg,
        batches: { type: 'array', items: { type: 'integer', minimum: 0 } },
        depths: { type: 'array', items: { type: 'integer', minimum: 0 } },
        durationMs: nonNeg,
        copyBandwidthGBs: nonNeg,
      },
    },
    entries: {
      type: 'array',
      items: {
        type: 'object',
        required: ['op', 'bucket', 'match', 'family', 'instance', 'params', 'spirv', 'stats'],
        additionalProperties: false,
        properties: {
          op: { type: 'string', minLength: 1 },
          bucket: { type: 'string', minLength: 1 },
          match: {
            type: 'object',
            required: ['instance', 'shape', 'range'],
            additionalProperties: false,
            properties: {
              instance: { type: 'string', minLength: 1 },
              shape: { anyOf: [{ type: 'null' }, scalarMap] },
              range: {
                type: 'object',
                additionalProperties: false,
                properties: { N: range, queries: range, depth: range },
                not: { required: ['N', 'queries'] },
              },
            },
          },
          family: { type: 'string', minLength: 1 },
          abi: { type: 'integer', minimum: 1 },
          instance: { type: 'string', minLength: 1 },
          params: { type: 'object', additionalProperties: num },
          spirv: sha,
          stats: {
            type: 'array',
            items: {
              type: 'object',
              required: ['point', 'medianNs', 'madNs', 'ciLowNs', 'ciHighNs', 'n', 'defaultMedianNs', 'speedup'],
              properties: {
                point: scalarMap,
                medianNs: nonNeg,
                madNs: nonNeg,
                ciLowNs: nonNeg,
                ciHighNs: nonNeg,
                n: { type: 'integer', minimum: 1 },
                defaultMedianNs: nonNeg,
                speedup: nonNeg,
                gflops: nonNeg,
                gbps: nonNeg,
                rooflinePct: nonNeg,
              },
            },
          },
        },
      },
    },
    hip: {
      type: 'object',
      required: ['device', 'compiler', 'entries'],
      additionalProperties: false,
      properties: {
        device: {
          type: 'object',
          required: ['name', 'api', 'arch', 'warpSize', 'driverVersion'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            api: { enum: ['cuda', 'hip'] },
            arch: { type: 'string', minLength: 1 },
            warpSize: { type: 'integer', minimum: 1 },
            driverVersion: { type: 'string' },
          },
        },
        compiler: { type: 'string' },
        entries: {
          type: 'array',
          items: {
            type: 'object',
            required: ['op', 'bucket', 'instance', 'family', 'params', 'point', 'medianNs', 'defaultMedianNs', 'relError'],
            additionalProperties: false,
            properties: {
              op: { type: 'string', minLength: 1 },
              bucket: { type: 'string', minLength: 1 },
              instance: { type: 'string', minLength: 1 },
              family: { type: 'string', minLength: 1 },
              params: { type: 'object', additionalProperties: num },
              point: scalarMap,
              medianNs: nonNeg,
              defaultMedianNs: { anyOf: [nonNeg, { type: 'null' }] },
              relError: nonNeg,
              vulkanMedianNs: nonNeg,
              winner: { enum: ['vulkan', 'hip'] },
              sources: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['sha256', 'entries', 'text'],
                  additionalProperties: false,
                  properties: {
                    sha256: sha,
                    entries: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } },
                    text: { type: 'string', minLength: 1 },
                  },
                },
              },
            },
          },
        },
      },
    },
    blobs: {
      type: 'object',
      propertyNames: { pattern: '^[0-9a-f]{64}$' },
      additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' },
    },
  },
} as const;
