// Decodes the Kubernetes protobuf envelope (`k8s\0` + runtime.Unknown) for the review kinds kubectl
// sends as protobuf (`auth can-i`, `auth whoami`, `create token`), into the JSON the handlers use.

export const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

export class ProtobufDecodeError extends Error {}

type FieldValue = { wire: 0; value: bigint } | { wire: 2; value: Buffer } | { wire: 1 | 5; value: Buffer };

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new ProtobufDecodeError('unexpected EOF');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
    if (shift > 63n) throw new ProtobufDecodeError('proto: integer overflow');
  }
}

/** Field number → values in wire order. */
export function decodeMessage(buf: Buffer): Map<number, FieldValue[]> {
  const fields = new Map<number, FieldValue[]>();
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let v: FieldValue;
    if (wire === 0) {
      const [value, p2] = readVarint(buf, pos);
      pos = p2;
      v = { wire: 0, value };
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      const end = p2 + Number(len);
      if (end > buf.length) throw new ProtobufDecodeError('unexpected EOF');
      v = { wire: 2, value: buf.subarray(p2, end) };
      pos = end;
    } else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      if (pos + size > buf.length) throw new ProtobufDecodeError('unexpected EOF');
      v = { wire, value: buf.subarray(pos, pos + size) };
      pos += size;
    } else {
      throw new ProtobufDecodeError(`proto: illegal wireType ${wire}`);
    }
    if (field <= 0) throw new ProtobufDecodeError('proto: illegal tag 0');
    const list = fields.get(field) ?? [];
    list.push(v);
    fields.set(field, list);
  }
  return fields;
}

function bytesOf(m: Map<number, FieldValue[]>, n: number): Buffer | undefined {
  const v = m.get(n)?.at(-1);
  return v && v.wire === 2 ? v.value : undefined;
}
function stringOf(m: Map<number, FieldValue[]>, n: number): string | undefined {
  return bytesOf(m, n)?.toString('utf8');
}
function stringsOf(m: Map<number, FieldValue[]>, n: number): string[] {
  return (m.get(n) ?? []).filter((v) => v.wire === 2).map((v) => v.value.toString('utf8'));
}
function intOf(m: Map<number, FieldValue[]>, n: number): number | undefined {
  const v = m.get(n)?.at(-1);
  return v && v.wire === 0 ? Number(BigInt.asIntN(64, v.value)) : undefined;
}
function messageOf(m: Map<number, FieldValue[]>, n: number): Map<number, FieldValue[]> | undefined {
  const b = bytesOf(m, n);
  return b ? decodeMessage(b) : undefined;
}

function setIf(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined && value !== '' && !(Array.isArray(value) && value.length === 0))
    target[key] = value;
}

function stringMap(m: Map<number, FieldValue[]>, n: number): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const v of m.get(n) ?? []) {
    if (v.wire !== 2) continue;
    const e = decodeMessage(v.value);
    out[stringOf(e, 1) ?? ''] = stringOf(e, 2) ?? '';
  }
  return Object.keys(out).length ? out : undefined;
}

function objectMeta(m: Map<number, FieldValue[]> | undefined): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  if (!m) return meta;
  setIf(meta, 'name', stringOf(m, 1));
  setIf(meta, 'generateName', stringOf(m, 2));
  setIf(meta, 'namespace', stringOf(m, 3));
  setIf(meta, 'labels', stringMap(m, 11));
  setIf(meta, 'annotations', stringMap(m, 12));
  return meta;
}

function resourceAttributes(m: Map<number, FieldValue[]>): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'].forEach((k, i) =>
    setIf(r, k, stringOf(m, i + 1)),
  );
  return r;
}

function accessReviewSpec(
  m: Map<number, FieldValue[]> | undefined,
  withSubject: boolean,
): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  if (!m) return spec;
  const ra = messageOf(m, 1);
  if (ra) spec.resourceAttributes = resourceAttributes(ra);
  const nra = messageOf(m, 2);
  if (nra) {
    const n: Record<string, unknown> = {};
    setIf(n, 'path', stringOf(nra, 1));
    setIf(n, 'verb', stringOf(nra, 2));
    spec.nonResourceAttributes = n;
  }
  if (withSubject) {
    setIf(spec, 'user', stringOf(m, 3));
    setIf(spec, 'groups', stringsOf(m, 4));
    const extra: Record<string, string[]> = {};
    for (const v of m.get(5) ?? []) {
      if (v.wire !== 2) continue;
      const e = decodeMessage(v.value);
      const items = messageOf(e, 2);
      extra[stringOf(e, 1) ?? ''] = items ? stringsOf(items, 1) : [];
    }
    setIf(spec, 'extra', Object.keys(extra).length ? extra : undefined);
    setIf(spec, 'uid', stringOf(m, 6));
  }
  return spec;
}

/** Decodes a `k8s\0`-prefixed body into the JSON form of the object it carries. */
export function decodeKubernetesProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(PROTOBUF_MAGIC))
    throw new ProtobufDecodeError(
      'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]',
    );
  const unknown = decodeMessage(body.subarray(4));
  const typeMeta = messageOf(unknown, 1);
  const apiVersion = typeMeta ? (stringOf(typeMeta, 1) ?? '') : '';
  const kind = typeMeta ? (stringOf(typeMeta, 2) ?? '') : '';
  const raw = bytesOf(unknown, 2) ?? Buffer.alloc(0);
  const obj = decodeMessage(raw);
  const out: Record<string, unknown> = { apiVersion, kind, metadata: objectMeta(messageOf(obj, 1)) };
  const spec = messageOf(obj, 2);
  switch (kind) {
    case 'SelfSubjectAccessReview':
    case 'LocalSubjectAccessReview':
      out.spec = accessReviewSpec(spec, kind === 'LocalSubjectAccessReview');
      break;
    case 'SubjectAccessReview':
      out.spec = accessReviewSpec(spec, true);
      break;
    case 'SelfSubjectRulesReview': {
      const s: Record<string, unknown> = {};
      if (spec) setIf(s, 'namespace', stringOf(spec, 1));
      out.spec = s;
      break;
    }
    case 'TokenRequest': {
      const s: Record<string, unknown> = {};
      if (spec) {
        setIf(s, 'audiences', stringsOf(spec, 1));
        // TokenRequestSpec: audiences = 1, boundObjectRef = 3, expirationSeconds = 4 (field 2 is
        // unused); kubectl create token --bound-object-kind sends field 3.
        const bound = messageOf(spec, 3);
        if (bound) {
          const b: Record<string, unknown> = {};
          ['kind', 'apiVersion', 'name', 'uid'].forEach((k, i) => setIf(b, k, stringOf(bound, i + 1)));
          s.boundObjectRef = b;
        }
        setIf(s, 'expirationSeconds', intOf(spec, 4));
      }
      out.spec = s;
      break;
    }
    case 'TokenReview': {
      const s: Record<string, unknown> = {};
      if (spec) {
        setIf(s, 'token', stringOf(spec, 1));
        setIf(s, 'audiences', stringsOf(spec, 2));
      }
      out.spec = s;
      break;
    }
    case 'SelfSubjectReview':
      break;
    default:
      throw new ProtobufDecodeError(`no kind "${kind}" is registered for the protobuf review decoder`);
  }
  return out;
}

// ---- Encoding, used by tests to build bodies the way client-go does ----

function varint(n: bigint): Buffer {
  const bytes: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    bytes.push(b);
  } while (v > 0n);
  return Buffer.from(bytes);
}

export function encodeField(field: number, value: string | Buffer | number): Buffer {
  if (typeof value === 'number') return Buffer.concat([varint(BigInt(field << 3)), varint(BigInt(value))]);
  const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([varint(BigInt((field << 3) | 2)), varint(BigInt(data.length)), data]);
}

export function encodeEnvelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  const typeMeta = Buffer.concat([encodeField(1, apiVersion), encodeField(2, kind)]);
  return Buffer.concat([PROTOBUF_MAGIC, encodeField(1, typeMeta), encodeField(2, raw)]);
}

// ---- Schema-driven decoding of the object kinds `kubectl create <kind>` sends as protobuf ----

type FieldKind =
  | 'string'
  | 'int'
  | 'bool'
  | 'bytes'
  | 'strings'
  | 'stringMap'
  | 'bytesMap'
  | 'intOrString'
  | 'quantityMap'
  | { message: MessageSchema; repeated?: boolean };
type MessageSchema = Record<number, [string, FieldKind]>;

const OBJECT_META: MessageSchema = {
  1: ['name', 'string'],
  2: ['generateName', 'string'],
  3: ['namespace', 'string'],
  11: ['labels', 'stringMap'],
  12: ['annotations', 'stringMap'],
  14: ['finalizers', 'strings'],
};
const LABEL_SELECTOR: MessageSchema = {
  1: ['matchLabels', 'stringMap'],
  2: [
    'matchExpressions',
    {
      message: { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['values', 'strings'] },
      repeated: true,
    },
  ],
};
const CONTAINER: MessageSchema = {
  1: ['name', 'string'],
  2: ['image', 'string'],
  3: ['command', 'strings'],
  4: ['args', 'strings'],
  5: ['workingDir', 'string'],
  6: [
    'ports',
    {
      message: {
        1: ['name', 'string'],
        2: ['hostPort', 'int'],
        3: ['containerPort', 'int'],
        4: ['protocol', 'string'],
        5: ['hostIP', 'string'],
      },
      repeated: true,
    },
  ],
  7: ['env', { message: { 1: ['name', 'string'], 2: ['value', 'string'] }, repeated: true }],
  8: ['resources', { message: { 1: ['limits', 'quantityMap'], 2: ['requests', 'quantityMap'] } }],
  13: ['terminationMessagePath', 'string'],
  14: ['imagePullPolicy', 'string'],
  16: ['stdin', 'bool'],
  17: ['stdinOnce', 'bool'],
  18: ['tty', 'bool'],
  20: ['terminationMessagePolicy', 'string'],
};
const POD_SPEC: MessageSchema = {
  2: ['containers', { message: CONTAINER, repeated: true }],
  3: ['restartPolicy', 'string'],
  4: ['terminationGracePeriodSeconds', 'int'],
  6: ['dnsPolicy', 'string'],
  7: ['nodeSelector', 'stringMap'],
  8: ['serviceAccountName', 'string'],
  10: ['nodeName', 'string'],
  20: ['initContainers', { message: CONTAINER, repeated: true }],
};
const POD_TEMPLATE: MessageSchema = {
  1: ['metadata', { message: OBJECT_META }],
  2: ['spec', { message: POD_SPEC }],
};
const SERVICE_PORT: MessageSchema = {
  1: ['name', 'string'],
  2: ['protocol', 'string'],
  3: ['port', 'int'],
  4: ['targetPort', 'intOrString'],
  5: ['nodePort', 'int'],
};
const POLICY_RULE: MessageSchema = {
  1: ['verbs', 'strings'],
  3: ['apiGroups', 'strings'],
  4: ['resources', 'strings'],
  5: ['resourceNames', 'strings'],
  6: ['nonResourceURLs', 'strings'],
};
const SUBJECT: MessageSchema = {
  1: ['kind', 'string'],
  2: ['apiGroup', 'string'],
  3: ['name', 'string'],
  4: ['namespace', 'string'],
};
const ROLE_REF: MessageSchema = { 1: ['apiGroup', 'string'], 2: ['kind', 'string'], 3: ['name', 'string'] };
const META = (): [string, FieldKind] => ['metadata', { message: OBJECT_META }];

const OBJECT_SCHEMAS: Record<string, MessageSchema> = {
  Deployment: {
    1: META(),
    2: [
      'spec',
      {
        message: {
          1: ['replicas', 'int'],
          2: ['selector', { message: LABEL_SELECTOR }],
          3: ['template', { message: POD_TEMPLATE }],
          4: [
            'strategy',
            {
              message: {
                1: ['type', 'string'],
                2: [
                  'rollingUpdate',
                  { message: { 1: ['maxUnavailable', 'intOrString'], 2: ['maxSurge', 'intOrString'] } },
                ],
              },
            },
          ],
          5: ['minReadySeconds', 'int'],
          6: ['revisionHistoryLimit', 'int'],
          7: ['paused', 'bool'],
          9: ['progressDeadlineSeconds', 'int'],
        },
      },
    ],
  },
  Pod: { 1: META(), 2: ['spec', { message: POD_SPEC }] },
  Namespace: { 1: META(), 2: ['spec', { message: { 1: ['finalizers', 'strings'] } }] },
  ConfigMap: { 1: META(), 2: ['data', 'stringMap'], 3: ['binaryData', 'bytesMap'], 4: ['immutable', 'bool'] },
  Secret: {
    1: META(),
    2: ['data', 'bytesMap'],
    3: ['type', 'string'],
    4: ['stringData', 'stringMap'],
    5: ['immutable', 'bool'],
  },
  ServiceAccount: { 1: META(), 4: ['automountServiceAccountToken', 'bool'] },
  Service: {
    1: META(),
    2: [
      'spec',
      {
        message: {
          1: ['ports', { message: SERVICE_PORT, repeated: true }],
          2: ['selector', 'stringMap'],
          3: ['clusterIP', 'string'],
          4: ['type', 'string'],
          5: ['externalIPs', 'strings'],
          10: ['externalName', 'string'],
        },
      },
    ],
  },
  Role: { 1: META(), 2: ['rules', { message: POLICY_RULE, repeated: true }] },
  ClusterRole: { 1: META(), 2: ['rules', { message: POLICY_RULE, repeated: true }] },
  RoleBinding: {
    1: META(),
    2: ['subjects', { message: SUBJECT, repeated: true }],
    3: ['roleRef', { message: ROLE_REF }],
  },
  ClusterRoleBinding: {
    1: META(),
    2: ['subjects', { message: SUBJECT, repeated: true }],
    3: ['roleRef', { message: ROLE_REF }],
  },
  PodDisruptionBudget: {
    1: META(),
    2: [
      'spec',
      {
        message: {
          1: ['minAvailable', 'intOrString'],
          2: ['selector', { message: LABEL_SELECTOR }],
          4: ['maxUnavailable', 'intOrString'],
        },
      },
    ],
  },
};

function decodeWithSchema(buf: Buffer, schema: MessageSchema): Record<string, unknown> {
  const fields = decodeMessage(buf);
  const out: Record<string, unknown> = {};
  for (const [num, values] of fields) {
    const def = schema[num];
    if (!def) continue;
    const [name, kind] = def;
    const last = values.at(-1)!;
    if (kind === 'string') out[name] = stringOf(fields, num) ?? '';
    else if (kind === 'bytes') out[name] = (bytesOf(fields, num) ?? Buffer.alloc(0)).toString('base64');
    else if (kind === 'int') out[name] = last.wire === 0 ? Number(BigInt.asIntN(64, last.value)) : 0;
    else if (kind === 'bool') out[name] = last.wire === 0 && last.value !== 0n;
    else if (kind === 'strings') out[name] = stringsOf(fields, num);
    else if (kind === 'stringMap' || kind === 'bytesMap' || kind === 'quantityMap') {
      const map: Record<string, string> = {};
      for (const v of values) {
        if (v.wire !== 2) continue;
        const e = decodeMessage(v.value);
        const key = stringOf(e, 1) ?? '';
        if (kind === 'stringMap') map[key] = stringOf(e, 2) ?? '';
        else if (kind === 'bytesMap') map[key] = (bytesOf(e, 2) ?? Buffer.alloc(0)).toString('base64');
        else map[key] = stringOf(messageOf(e, 2) ?? new Map<number, FieldValue[]>(), 1) ?? '';
      }
      out[name] = map;
    } else if (kind === 'intOrString') {
      const m = messageOf(fields, num) ?? new Map<number, FieldValue[]>();
      out[name] = intOf(m, 1) === 1 ? (stringOf(m, 3) ?? '') : (intOf(m, 2) ?? 0);
    } else if (kind.repeated) {
      out[name] = values.filter((v) => v.wire === 2).map((v) => decodeWithSchema(v.value, kind.message));
    } else if (last.wire === 2) {
      out[name] = decodeWithSchema(last.value, kind.message);
    }
  }
  return out;
}

/** Whether `decodeKubernetesProtobufObject` understands this kind. */
export function protobufObjectKinds(): string[] {
  return Object.keys(OBJECT_SCHEMAS);
}

/** Decodes a `k8s\0` body carrying one of the kinds in OBJECT_SCHEMAS (the fields kubectl create sets). */
export function decodeKubernetesProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(PROTOBUF_MAGIC))
    throw new ProtobufDecodeError(
      'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]',
    );
  const unknown = decodeMessage(body.subarray(4));
  const typeMeta = messageOf(unknown, 1);
  const apiVersion = typeMeta ? (stringOf(typeMeta, 1) ?? '') : '';
  const kind = typeMeta ? (stringOf(typeMeta, 2) ?? '') : '';
  const schema = OBJECT_SCHEMAS[kind];
  if (!schema) return decodeKubernetesProtobuf(body);
  const obj = decodeWithSchema(bytesOf(unknown, 2) ?? Buffer.alloc(0), schema);
  return { apiVersion, kind, ...obj, metadata: obj.metadata ?? {} };
}
