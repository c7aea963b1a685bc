// What the API server does to an object between decoding and storing it: field pruning/strict
// validation against the known fields, defaulting (as the registry strategies and defaulters do)
// and validation with the real error wording for the fields users most often get wrong.
import { createHash, randomBytes } from 'node:crypto';
import type { KubeObject } from './contract';
import type { ResourceType } from './resources';
import { matchesObjectSelector, type ObjectLabelSelector } from './selectors';
import type { FieldError } from './status';
import type { ObjectStore } from './store';

// ---- Known fields (a small structural schema) ----

/** A field set: `true` accepts anything below it; a nested schema applies to objects and list items. */
type FieldSchema = { [field: string]: FieldSchema | true };

const ANY = true as const;
const METADATA: FieldSchema = {
  name: ANY,
  generateName: ANY,
  namespace: ANY,
  selfLink: ANY,
  uid: ANY,
  resourceVersion: ANY,
  generation: ANY,
  creationTimestamp: ANY,
  deletionTimestamp: ANY,
  deletionGracePeriodSeconds: ANY,
  labels: ANY,
  annotations: ANY,
  ownerReferences: ANY,
  finalizers: ANY,
  managedFields: ANY,
};
const CONTAINER: FieldSchema = {
  name: ANY,
  image: ANY,
  command: ANY,
  args: ANY,
  workingDir: ANY,
  ports: { name: ANY, hostPort: ANY, containerPort: ANY, protocol: ANY, hostIP: ANY },
  envFrom: ANY,
  env: ANY,
  resources: ANY,
  resizePolicy: ANY,
  restartPolicy: ANY,
  volumeMounts: ANY,
  volumeDevices: ANY,
  livenessProbe: ANY,
  readinessProbe: ANY,
  startupProbe: ANY,
  lifecycle: ANY,
  terminationMessagePath: ANY,
  terminationMessagePolicy: ANY,
  imagePullPolicy: ANY,
  securityContext: ANY,
  stdin: ANY,
  stdinOnce: ANY,
  tty: ANY,
};
const POD_SPEC: FieldSchema = {
  volumes: ANY,
  initContainers: CONTAINER,
  containers: CONTAINER,
  ephemeralContainers: ANY,
  restartPolicy: ANY,
  terminationGracePeriodSeconds: ANY,
  activeDeadlineSeconds: ANY,
  dnsPolicy: ANY,
  nodeSelector: ANY,
  serviceAccountName: ANY,
  serviceAccount: ANY,
  automountServiceAccountToken: ANY,
  nodeName: ANY,
  hostNetwork: ANY,
  hostPID: ANY,
  hostIPC: ANY,
  shareProcessNamespace: ANY,
  securityContext: ANY,
  imagePullSecrets: ANY,
  hostname: ANY,
  subdomain: ANY,
  affinity: ANY,
  schedulerName: ANY,
  tolerations: ANY,
  hostAliases: ANY,
  priorityClassName: ANY,
  priority: ANY,
  dnsConfig: ANY,
  readinessGates: ANY,
  runtimeClassName: ANY,
  enableServiceLinks: ANY,
  preemptionPolicy: ANY,
  overhead: ANY,
  topologySpreadConstraints: ANY,
  setHostnameAsFQDN: ANY,
  os: ANY,
  hostUsers: ANY,
  schedulingGates: ANY,
  resourceClaims: ANY,
  resources: ANY,
};
const POD_TEMPLATE: FieldSchema = { metadata: METADATA, spec: POD_SPEC };
const SPEC_STATUS = (spec: FieldSchema | true): FieldSchema => ({ spec, status: ANY });

const KIND_FIELDS: Record<string, FieldSchema> = {
  Pod: SPEC_STATUS(POD_SPEC),
  Deployment: SPEC_STATUS({
    replicas: ANY,
    selector: ANY,
    template: POD_TEMPLATE,
    strategy: ANY,
    minReadySeconds: ANY,
    revisionHistoryLimit: ANY,
    paused: ANY,
    progressDeadlineSeconds: ANY,
  }),
  ReplicaSet: SPEC_STATUS({ replicas: ANY, minReadySeconds: ANY, selector: ANY, template: POD_TEMPLATE }),
  Service: SPEC_STATUS({
    ports: { name: ANY, protocol: ANY, appProtocol: ANY, port: ANY, targetPort: ANY, nodePort: ANY },
    selector: ANY,
    clusterIP: ANY,
    clusterIPs: ANY,
    type: ANY,
    externalIPs: ANY,
    sessionAffinity: ANY,
    loadBalancerIP: ANY,
    loadBalancerSourceRanges: ANY,
    externalName: ANY,
    externalTrafficPolicy: ANY,
    healthCheckNodePort: ANY,
    publishNotReadyAddresses: ANY,
    sessionAffinityConfig: ANY,
    ipFamilies: ANY,
    ipFamilyPolicy: ANY,
    allocateLoadBalancerNodePorts: ANY,
    loadBalancerClass: ANY,
    internalTrafficPolicy: ANY,
    trafficDistribution: ANY,
  }),
  Namespace: SPEC_STATUS({ finalizers: ANY }),
  Node: SPEC_STATUS(ANY),
  PersistentVolume: SPEC_STATUS(ANY),
  PersistentVolumeClaim: SPEC_STATUS(ANY),
  PodDisruptionBudget: SPEC_STATUS(ANY),
  Ingress: SPEC_STATUS(ANY),
  // A spec only: the alpha status field was removed in 1.28.
  NetworkPolicy: { spec: ANY },
  Endpoints: { subsets: ANY },
  EndpointSlice: { addressType: ANY, endpoints: ANY, ports: ANY },
  ConfigMap: { data: ANY, binaryData: ANY, immutable: ANY },
  Secret: { data: ANY, stringData: ANY, type: ANY, immutable: ANY },
  ServiceAccount: { secrets: ANY, imagePullSecrets: ANY, automountServiceAccountToken: ANY },
  Event: {
    involvedObject: ANY,
    reason: ANY,
    message: ANY,
    source: ANY,
    firstTimestamp: ANY,
    lastTimestamp: ANY,
    count: ANY,
    type: ANY,
    eventTime: ANY,
    series: ANY,
    action: ANY,
    related: ANY,
    reportingComponent: ANY,
    reportingInstance: ANY,
  },
  Role: { rules: ANY },
  ClusterRole: { rules: ANY, aggregationRule: ANY },
  RoleBinding: { subjects: ANY, roleRef: ANY },
  ClusterRoleBinding: { subjects: ANY, roleRef: ANY },
  Scale: { spec: ANY, status: ANY },
};

/** Removes fields the type does not declare; returns their paths as the strict decoder names them. */
export function pruneUnknownFields(kind: string, obj: Record<string, unknown>): string[] {
  const schema: FieldSchema = {
    apiVersion: ANY,
    kind: ANY,
    metadata: METADATA,
    ...(KIND_FIELDS[kind] ?? {}),
  };
  const unknown: string[] = [];
  const walk = (value: unknown, s: FieldSchema, path: string): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, s, `${path}[${i}]`));
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const rec = value as Record<string, unknown>;
    for (const key of Object.keys(rec)) {
      const child = s[key];
      const childPath = path ? `${path}.${key}` : key;
      if (child === undefined) {
        unknown.push(childPath);
        delete rec[key];
      } else if (child !== true) {
        walk(rec[key], child, childPath);
      }
    }
  };
  walk(obj, schema, '');
  return unknown;
}

// ---- Names ----

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

function labelNameErrors(name: string, pattern: RegExp, message: string): FieldError[] {
  if (name.length > 63) {
    return [
      {
        type: 'FieldValueInvalid',
        field: 'metadata.name',
        value: name,
        detail: 'must be no more than 63 characters',
      },
    ];
  }
  return pattern.test(name)
    ? []
    : [{ type: 'FieldValueInvalid', field: 'metadata.name', value: name, detail: message }];
}

function nameErrors(kind: string, name: string): FieldError[] {
  // Namespaces are DNS-1123 labels, services DNS-1035 labels: same length rule, other alphabet.
  if (kind === 'Namespace') return labelNameErrors(name, DNS1123_LABEL, LABEL_MSG);
  if (kind === 'Service') return labelNameErrors(name, DNS1035_LABEL, DNS1035_MSG);
  if (kind.startsWith('Role') || kind.startsWith('ClusterRole')) {
    // RBAC names are path segments, not DNS names.
    return /[/%]/.test(name) || name === '.' || name === '..'
      ? [{ type: 'FieldValueInvalid', field: 'metadata.name', value: name, detail: `may not contain '/'` }]
      : [];
  }
  if (name.length > 253)
    return [
      {
        type: 'FieldValueInvalid',
        field: 'metadata.name',
        value: name,
        detail: 'must be no more than 253 characters',
      },
    ];
  return DNS1123_SUBDOMAIN.test(name)
    ? []
    : [{ type: 'FieldValueInvalid', field: 'metadata.name', value: name, detail: SUBDOMAIN_MSG }];
}

const RANDOM_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** utilrand.String: the alphabet generateName suffixes and pod-template hashes use. */
export function randomSuffix(n = 5): string {
  const bytes = randomBytes(n);
  let out = '';
  for (let i = 0; i < n; i++) out += RANDOM_ALPHABET[bytes[i] % RANDOM_ALPHABET.length];
  return out;
}

/** A stable hash of a value in the same alphabet (for pod-template-hash). */
export function stableSuffix(value: string, n = 10): string {
  const digest = createHash('sha256').update(value).digest();
  let out = '';
  for (let i = 0; i < n; i++) out += RANDOM_ALPHABET[digest[i] % RANDOM_ALPHABET.length];
  return out;
}

// ---- Defaulting ----

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
const ensureObj = (parent: Obj, key: string): Obj => {
  const v = parent[key];
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Obj;
  const created: Obj = {};
  parent[key] = created;
  return created;
};
const asList = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

function defaultContainer(c: Obj): void {
  const image = typeof c.image === 'string' ? c.image : '';
  const lastSegment = image.split('/').pop() ?? '';
  const tag = lastSegment.includes('@')
    ? 'digest'
    : lastSegment.includes(':')
      ? lastSegment.split(':').pop()
      : '';
  c.imagePullPolicy ??= !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  c.resources ??= {};
  for (const p of asList(c.ports)) p.protocol ??= 'TCP';
}

function defaultPodSpec(spec: Obj): void {
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  for (const c of [...asList(spec.containers), ...asList(spec.initContainers)]) defaultContainer(c);
}

export interface AdmissionContext {
  store: ObjectStore;
  allocateClusterIP(): string;
  allocateNodePort(): number;
}

/** Registry defaulting on create (and the parts of it that also apply on update). */
export function applyDefaults(
  type: ResourceType,
  obj: KubeObject,
  ctx: AdmissionContext,
  isCreate: boolean,
): void {
  const spec = obj.spec !== undefined ? asObj(obj.spec) : undefined;
  switch (type.kind) {
    case 'Pod': {
      const s = ensureObj(obj, 'spec');
      defaultPodSpec(s);
      s.serviceAccountName ??= s.serviceAccount ?? 'default';
      s.serviceAccount = s.serviceAccountName;
      s.enableServiceLinks ??= true;
      s.preemptionPolicy ??= 'PreemptLowerPriority';
      s.priority ??= 0;
      s.tolerations ??= [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ];
      if (
        isCreate &&
        s.automountServiceAccountToken !== false &&
        !asList(s.volumes).some((v) => String(v.name).startsWith('kube-api-access-'))
      ) {
        // The ServiceAccount admission plugin mounts a projected token volume into every container.
        const volumeName = `kube-api-access-${randomSuffix(5)}`;
        s.volumes = [
          ...asList(s.volumes),
          {
            name: volumeName,
            projected: {
              defaultMode: 420,
              sources: [
                { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
                { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                {
                  downwardAPI: {
                    items: [
                      { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
                    ],
                  },
                },
              ],
            },
          },
        ];
        for (const c of asList(s.containers)) {
          c.volumeMounts = [
            ...asList(c.volumeMounts),
            { name: volumeName, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
          ];
        }
      }
      if (isCreate) {
        const st = ensureObj(obj, 'status');
        st.phase ??= 'Pending';
        st.qosClass ??= 'BestEffort';
      }
      break;
    }
    case 'Deployment':
      if (spec) {
        spec.replicas ??= 1;
        spec.strategy ??= {
          type: 'RollingUpdate',
          rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
        };
        spec.revisionHistoryLimit ??= 10;
        spec.progressDeadlineSeconds ??= 600;
        const template = ensureObj(spec, 'template');
        ensureObj(template, 'metadata').creationTimestamp ??= null;
        defaultPodSpec(ensureObj(template, 'spec'));
      }
      break;
    case 'ReplicaSet':
      if (spec) {
        spec.replicas ??= 1;
        defaultPodSpec(ensureObj(ensureObj(spec, 'template'), 'spec'));
      }
      break;
    case 'Service': {
      const s = ensureObj(obj, 'spec');
      s.type ??= 'ClusterIP';
      s.sessionAffinity ??= 'None';
      if (s.type !== 'ExternalName') {
        if (isCreate && (s.clusterIP === undefined || s.clusterIP === ''))
          s.clusterIP = ctx.allocateClusterIP();
        if (s.clusterIP) s.clusterIPs ??= [s.clusterIP];
        s.ipFamilies ??= ['IPv4'];
        s.ipFamilyPolicy ??= 'SingleStack';
        s.internalTrafficPolicy ??= 'Cluster';
      }
      for (const p of asList(s.ports)) {
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
        if ((s.type === 'NodePort' || s.type === 'LoadBalancer') && p.nodePort === undefined)
          p.nodePort = ctx.allocateNodePort();
      }
      if (s.type === 'NodePort' || s.type === 'LoadBalancer') s.externalTrafficPolicy ??= 'Cluster';
      if (isCreate) ensureObj(obj, 'status').loadBalancer ??= {};
      break;
    }
    case 'Namespace': {
      obj.metadata.labels = {
        ...(obj.metadata.labels ?? {}),
        'kubernetes.io/metadata.name': obj.metadata.name,
      };
      if (isCreate) {
        ensureObj(obj, 'spec').finalizers ??= ['kubernetes'];
        ensureObj(obj, 'status').phase ??= 'Active';
      }
      break;
    }
    case 'Secret': {
      if (!obj.type) obj.type = 'Opaque';
      const stringData = asObj(obj.stringData);
      if (obj.stringData !== undefined) {
        const data = ensureObj(obj, 'data');
        for (const [k, v] of Object.entries(stringData))
          data[k] = Buffer.from(String(v), 'utf8').toString('base64');
        delete obj.stringData;
      }
      break;
    }
    case 'Event':
      obj.count ??= 1;
      break;
    default:
      break;
  }
}

// ---- Validation ----

export function validateObject(type: ResourceType, obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const name = obj.metadata.name;
  if (!name) {
    errs.push({
      type: 'FieldValueRequired',
      field: 'metadata.name',
      detail: 'name or generateName is required',
    });
  } else {
    errs.push(...nameErrors(type.kind, name));
  }
  if (type.namespaced && !obj.metadata.namespace)
    errs.push({ type: 'FieldValueRequired', field: 'metadata.namespace' });
  const spec = asObj(obj.spec);
  const containerErrors = (podSpec: Obj, prefix: string): void => {
    const containers = asList(podSpec.containers);
    if (containers.length === 0) errs.push({ type: 'FieldValueRequired', field: `${prefix}.containers` });
    const seen = new Set<string>();
    containers.forEach((c, i) => {
      if (!c.name) errs.push({ type: 'FieldValueRequired', field: `${prefix}.containers[${i}].name` });
      else if (typeof c.name === 'string' && seen.has(c.name))
        errs.push({ type: 'FieldValueDuplicate', field: `${prefix}.containers[${i}].name`, value: c.name });
      else if (typeof c.name === 'string') seen.add(c.name);
      if (!c.image) errs.push({ type: 'FieldValueRequired', field: `${prefix}.containers[${i}].image` });
    });
  };
  switch (type.kind) {
    case 'Pod':
      containerErrors(spec, 'spec');
      break;
    case 'Deployment':
    case 'ReplicaSet': {
      const selector = spec.selector as ObjectLabelSelector | undefined;
      const template = asObj(spec.template);
      const labels = asObj(template.metadata).labels as Record<string, string> | undefined;
      if (
        !selector ||
        (Object.keys(selector.matchLabels ?? {}).length === 0 &&
          (selector.matchExpressions ?? []).length === 0)
      ) {
        errs.push({ type: 'FieldValueRequired', field: 'spec.selector' });
      } else if (!matchesObjectSelector(selector, labels)) {
        errs.push({
          type: 'FieldValueInvalid',
          field: 'spec.template.metadata.labels',
          value: labels ?? {},
          detail: '`selector` does not match template `labels`',
        });
      }
      if (typeof spec.replicas === 'number' && spec.replicas < 0) {
        errs.push({
          type: 'FieldValueInvalid',
          field: 'spec.replicas',
          value: spec.replicas,
          detail: 'must be greater than or equal to 0',
        });
      }
      containerErrors(asObj(template.spec), 'spec.template.spec');
      break;
    }
    case 'Service': {
      const ports = asList(spec.ports);
      if (spec.type !== 'ExternalName' && spec.clusterIP !== 'None' && ports.length === 0)
        errs.push({ type: 'FieldValueRequired', field: 'spec.ports' });
      ports.forEach((p, i) => {
        if (typeof p.port !== 'number' || p.port < 1 || p.port > 65535) {
          errs.push({
            type: 'FieldValueInvalid',
            field: `spec.ports[${i}].port`,
            value: p.port ?? 0,
            detail: 'must be between 1 and 65535, inclusive',
          });
        }
        if (ports.length > 1 && !p.name)
          errs.push({ type: 'FieldValueRequired', field: `spec.ports[${i}].name` });
      });
      break;
    }
    case 'RoleBinding':
    case 'ClusterRoleBinding': {
      const ref = asObj(obj.roleRef);
      if (!ref.name) errs.push({ type: 'FieldValueRequired', field: 'roleRef.name' });
      if (ref.kind !== 'ClusterRole' && !(ref.kind === 'Role' && type.kind === 'RoleBinding')) {
        errs.push({
          type: 'FieldValueNotSupported',
          field: 'roleRef.kind',
          value: ref.kind ?? '',
          detail:
            type.kind === 'RoleBinding'
              ? 'supported values: "Role", "ClusterRole"'
              : 'supported values: "ClusterRole"',
        });
      }
      break;
    }
    default:
      break;
  }
  return errs;
}

/** Fields the registry refuses to change on update. */
export function validateUpdate(type: ResourceType, obj: KubeObject, old: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = asObj(obj.spec);
  const oldSpec = asObj(old.spec);
  if (type.kind === 'Deployment' || type.kind === 'ReplicaSet') {
    if (JSON.stringify(spec.selector) !== JSON.stringify(oldSpec.selector)) {
      errs.push({
        type: 'FieldValueInvalid',
        field: 'spec.selector',
        value: spec.selector ?? {},
        detail: 'field is immutable',
      });
    }
  }
  if (
    type.kind === 'Service' &&
    oldSpec.clusterIP &&
    spec.clusterIP !== undefined &&
    spec.clusterIP !== '' &&
    spec.clusterIP !== oldSpec.clusterIP
  ) {
    errs.push({
      type: 'FieldValueInvalid',
      field: 'spec.clusterIPs[0]',
      value: spec.clusterIP,
      detail: 'may not change once set',
    });
  }
  if (type.kind === 'Pod') {
    const strip = (s: Obj): string =>
      JSON.stringify({
        ...s,
        containers: asList(s.containers).map((c) => ({ ...c, image: undefined })),
        activeDeadlineSeconds: undefined,
        tolerations: undefined,
      });
    if (strip(spec) !== strip(oldSpec)) {
      errs.push({
        type: 'FieldValueForbidden',
        field: 'spec',
        detail:
          'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      });
    }
  }
  return errs;
}
