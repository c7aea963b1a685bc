// Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the columns and
// cells of pkg/printers/internalversion/printers.go for the kinds kubectl users look at most.
import type { KubeObject } from './contract';
import { apiVersionOf, type ResourceType } from './resources';
import { formatObjectSelector, type ObjectLabelSelector } from './selectors';

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: unknown[];
  object?: unknown;
}

type Cell = string | number | boolean;

/** apimachinery's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function since(ts: unknown): string {
  if (typeof ts !== 'string' || !ts) return '<unknown>';
  return humanDuration(Date.now() - Date.parse(ts));
}

const col = (name: string, type: string, description: string, priority = 0, format = ''): TableColumn => ({
  name,
  type,
  format,
  description,
  priority,
});
const NAME = col(
  'Name',
  'string',
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
  0,
  'name',
);
const AGE = col(
  'Age',
  'string',
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
);

type Obj = Record<string, unknown>;
const o = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const str = (v: unknown, dflt = ''): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : dflt;
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const orNone = (s: string): string => (s ? s : '<none>');

function formatLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

function podRow(pod: KubeObject): Cell[] {
  const spec = o(pod.spec);
  const status = o(pod.status);
  const containers = arr(spec.containers);
  let restarts = 0;
  let ready = 0;
  let reason = str(status.reason) || str(status.phase);
  for (const cs of arr(status.containerStatuses)) {
    restarts += num(cs.restartCount);
    const state = o(cs.state);
    if (o(state.waiting).reason) reason = str(o(state.waiting).reason);
    else if (o(state.terminated).reason) reason = str(o(state.terminated).reason);
    else if (cs.ready && state.running) ready++;
  }
  if (pod.metadata.deletionTimestamp) reason = 'Terminating';
  const gates = arr(spec.readinessGates);
  return [
    pod.metadata.name,
    `${ready}/${containers.length}`,
    reason,
    String(restarts),
    since(pod.metadata.creationTimestamp),
    orNone(str(status.podIP)),
    orNone(str(spec.nodeName)),
    orNone(str(status.nominatedNodeName)),
    gates.length ? `0/${gates.length}` : '<none>',
  ];
}

function servicePorts(spec: Obj): string {
  const ports = arr(spec.ports);
  if (!ports.length) return '<none>';
  return ports
    .map((p) =>
      p.nodePort
        ? `${num(p.port)}:${num(p.nodePort)}/${str(p.protocol, 'TCP')}`
        : `${num(p.port)}/${str(p.protocol, 'TCP')}`,
    )
    .join(',');
}

function serviceRow(svc: KubeObject): Cell[] {
  const spec = o(svc.spec);
  const type = str(spec.type, 'ClusterIP');
  const ingress = arr(o(o(svc.status).loadBalancer).ingress)
    .map((i) => str(i.ip) || str(i.hostname))
    .filter(Boolean);
  const external = [...((spec.externalIPs as string[] | undefined) ?? []), ...ingress];
  let externalIp = external.length ? external.join(',') : '<none>';
  if (type === 'LoadBalancer' && !external.length) externalIp = '<pending>';
  if (type === 'ExternalName') externalIp = str(spec.externalName);
  const selector = spec.selector as Record<string, string> | undefined;
  return [
    svc.metadata.name,
    type,
    orNone(str(spec.clusterIP)),
    externalIp,
    servicePorts(spec),
    since(svc.metadata.creationTimestamp),
    formatLabels(selector),
  ];
}

function templateContainers(spec: Obj): [string, string] {
  const cs = arr(o(o(spec.template).spec).containers);
  return [cs.map((c) => str(c.name)).join(','), cs.map((c) => str(c.image)).join(',')];
}

function deploymentRow(d: KubeObject): Cell[] {
  const spec = o(d.spec);
  const status = o(d.status);
  const [names, images] = templateContainers(spec);
  return [
    d.metadata.name,
    `${num(status.readyReplicas)}/${num(spec.replicas)}`,
    num(status.updatedReplicas),
    num(status.availableReplicas),
    since(d.metadata.creationTimestamp),
    names,
    images,
    formatObjectSelector(spec.selector as ObjectLabelSelector),
  ];
}

function replicaSetRow(rs: KubeObject): Cell[] {
  const spec = o(rs.spec);
  const status = o(rs.status);
  const [names, images] = templateContainers(spec);
  return [
    rs.metadata.name,
    num(spec.replicas),
    num(status.replicas),
    num(status.readyReplicas),
    since(rs.metadata.creationTimestamp),
    names,
    images,
    formatObjectSelector(spec.selector as ObjectLabelSelector),
  ];
}

function nodeRow(n: KubeObject): Cell[] {
  const status = o(n.status);
  const ready = arr(status.conditions).find((c) => c.type === 'Ready');
  let s = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
  if (o(n.spec).unschedulable) s += ',SchedulingDisabled';
  const roles = Object.keys(n.metadata.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .sort();
  const addr = (t: string): string => orNone(str(arr(status.addresses).find((a) => a.type === t)?.address));
  const info = o(status.nodeInfo);
  return [
    n.metadata.name,
    s,
    roles.length ? roles.join(',') : '<none>',
    since(n.metadata.creationTimestamp),
    str(info.kubeletVersion),
    addr('InternalIP'),
    addr('ExternalIP'),
    orNone(str(info.osImage)),
    orNone(str(info.kernelVersion)),
    orNone(str(info.containerRuntimeVersion)),
  ];
}

function eventRow(e: KubeObject): Cell[] {
  const involved = o(e.involvedObject);
  const source = o(e.source);
  const first = str(e.firstTimestamp) || str(e.eventTime) || str(e.metadata.creationTimestamp);
  const last = str(e.lastTimestamp) || str(o(e.series).lastObservedTime) || first;
  const count = e.series ? num(o(e.series).count) : num(e.count) || 1;
  const sourceText = str(source.component)
    ? str(source.host)
      ? `${str(source.component)}, ${str(source.host)}`
      : str(source.component)
    : str(e.reportingComponent);
  return [
    since(last),
    str(e.type),
    str(e.reason),
    `${str(involved.kind).toLowerCase()}/${str(involved.name)}`,
    str(involved.fieldPath),
    sourceText,
    str(e.message).trim(),
    since(first),
    String(count),
    e.metadata.name,
  ];
}

function endpointsRow(ep: KubeObject): Cell[] {
  const list: string[] = [];
  for (const subset of arr(ep.subsets)) {
    const ports = arr(subset.ports);
    for (const a of arr(subset.addresses)) {
      if (!ports.length) list.push(str(a.ip));
      for (const p of ports) list.push(`${str(a.ip)}:${num(p.port)}`);
    }
  }
  const shown =
    list.length > 3 ? `${list.slice(0, 3).join(',')} + ${list.length - 3} more...` : list.join(',');
  return [ep.metadata.name, orNone(shown), since(ep.metadata.creationTimestamp)];
}

function endpointSliceRow(s: KubeObject): Cell[] {
  const ports = arr(s.ports).map((p) => String(num(p.port)));
  const addrs = arr(s.endpoints).flatMap((e) => (e.addresses as string[] | undefined) ?? []);
  const shownAddrs =
    addrs.length > 3 ? `${addrs.slice(0, 3).join(',')} + ${addrs.length - 3} more...` : addrs.join(',');
  return [
    s.metadata.name,
    str(s.addressType),
    ports.length ? ports.join(',') : '<unset>',
    orNone(shownAddrs),
    since(s.metadata.creationTimestamp),
  ];
}

/** RoleBinding and ClusterRoleBinding print the same columns; only the role's kind differs. */
function bindingColumns(roleKind: 'Role' | 'ClusterRole') {
  return [
    NAME,
    col('Role', 'string', `${roleKind} this binding refers to`),
    AGE,
    col('Users', 'string', 'Users in this binding', 1),
    col('Groups', 'string', 'Groups in this binding', 1),
    col('ServiceAccounts', 'string', 'ServiceAccounts in this binding', 1),
  ];
}

function bindingRow(b: KubeObject): Cell[] {
  const ref = o(b.roleRef);
  const subjects = arr(b.subjects);
  const pick = (kind: string): string =>
    subjects
      .filter((s) => s.kind === kind)
      .map((s) => (kind === 'ServiceAccount' ? `${str(s.namespace)}/${str(s.name)}` : str(s.name)))
      .join(', ');
  return [
    b.metadata.name,
    `${str(ref.kind)}/${str(ref.name)}`,
    since(b.metadata.creationTimestamp),
    pick('User'),
    pick('Group'),
    pick('ServiceAccount'),
  ];
}

interface Printer {
  columns: TableColumn[];
  row(obj: KubeObject): Cell[];
}

const PRINTERS: Record<string, Printer> = {
  Pod: {
    columns: [
      NAME,
      col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'string', 'The aggregate status of the containers in this pod.'),
      col(
        'Restarts',
        'string',
        'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      ),
      AGE,
      col(
        'IP',
        'string',
        'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.',
        1,
      ),
      col('Node', 'string', 'NodeName is a request to schedule this pod onto a specific node.', 1),
      col(
        'Nominated Node',
        'string',
        'nominatedNodeName is set only when this pod preempts other pods on the node.',
        1,
      ),
      col(
        'Readiness Gates',
        'string',
        'If specified, all readiness gates will be evaluated for pod readiness.',
        1,
      ),
    ],
    row: podRow,
  },
  Service: {
    columns: [
      NAME,
      col('Type', 'string', 'type determines how the Service is exposed.'),
      col('Cluster-IP', 'string', 'clusterIP is the IP address of the service.'),
      col(
        'External-IP',
        'string',
        'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.',
      ),
      col('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
      AGE,
      col(
        'Selector',
        'string',
        'Route service traffic to pods with label keys and values matching this selector.',
        1,
      ),
    ],
    row: serviceRow,
  },
  Deployment: {
    columns: [
      NAME,
      col('Ready', 'string', 'Number of the pod with ready state'),
      col(
        'Up-to-date',
        'integer',
        'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
      ),
      col(
        'Available',
        'integer',
        'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
      ),
      AGE,
      col('Containers', 'string', 'Names of each container in the template.', 1),
      col('Images', 'string', 'Images referenced by each container in the template.', 1),
      col(
        'Selector',
        'string',
        'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.',
        1,
      ),
    ],
    row: deploymentRow,
  },
  ReplicaSet: {
    columns: [
      NAME,
      col('Desired', 'integer', 'Replicas is the number of desired replicas.'),
      col('Current', 'integer', 'Replicas is the most recently observed number of replicas.'),
      col('Ready', 'integer', 'The number of ready replicas for this replica set.'),
      AGE,
      col('Containers', 'string', 'Names of each container in the template.', 1),
      col('Images', 'string', 'Images referenced by each container in the template.', 1),
      col(
        'Selector',
        'string',
        'Selector is a label query over pods that should match the replica count.',
        1,
      ),
    ],
    row: replicaSetRow,
  },
  Namespace: {
    columns: [NAME, col('Status', 'string', 'The status of the namespace'), AGE],
    row: (ns) => [ns.metadata.name, str(o(ns.status).phase, 'Active'), since(ns.metadata.creationTimestamp)],
  },
  Node: {
    columns: [
      NAME,
      col('Status', 'string', 'The status of the node'),
      col('Roles', 'string', 'The roles of the node'),
      AGE,
      col('Version', 'string', 'Kubelet Version reported by the node.'),
      col(
        'Internal-IP',
        'string',
        'List of addresses reachable to the node. Queried from cloud provider, if available.',
        1,
      ),
      col(
        'External-IP',
        'string',
        'List of addresses reachable to the node. Queried from cloud provider, if available.',
        1,
      ),
      col(
        'OS-Image',
        'string',
        'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).',
        1,
      ),
      col(
        'Kernel-Version',
        'string',
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        1,
      ),
      col(
        'Container-Runtime',
        'string',
        'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).',
        1,
      ),
    ],
    row: nodeRow,
  },
  Event: {
    columns: [
      col('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
      col('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future.'),
      col(
        'Reason',
        'string',
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
      ),
      col('Object', 'string', 'The object that this event is about.'),
      col('Subobject', 'string', 'The subobject (e.g. a container) this event is about.', 1),
      col(
        'Source',
        'string',
        'The component reporting this event. Should be a short machine understandable string.',
        1,
      ),
      col('Message', 'string', 'A human-readable description of the status of this operation.'),
      col(
        'First Seen',
        'string',
        'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)',
        1,
      ),
      col('Count', 'string', 'The number of times this event has occurred.', 1),
      { ...NAME, priority: 1 },
    ],
    row: eventRow,
  },
  Endpoints: {
    columns: [NAME, col('Endpoints', 'string', 'Endpoints of the service'), AGE],
    row: endpointsRow,
  },
  EndpointSlice: {
    columns: [
      NAME,
      col('AddressType', 'string', 'The IP protocol for this slice'),
      col('Ports', 'string', 'The ports for this slice'),
      col('Endpoints', 'string', 'The endpoints for this slice'),
      AGE,
    ],
    row: endpointSliceRow,
  },
  ConfigMap: {
    columns: [NAME, col('Data', 'integer', 'Data contains the configuration data.'), AGE],
    row: (c) => [
      c.metadata.name,
      Object.keys(o(c.data)).length + Object.keys(o(c.binaryData)).length,
      since(c.metadata.creationTimestamp),
    ],
  },
  Secret: {
    columns: [
      NAME,
      col('Type', 'string', 'The type of the secret'),
      col('Data', 'integer', 'The number of entries in the data field'),
      AGE,
    ],
    row: (s) => [
      s.metadata.name,
      str(s.type, 'Opaque'),
      Object.keys(o(s.data)).length,
      since(s.metadata.creationTimestamp),
    ],
  },
  ServiceAccount: {
    columns: [
      NAME,
      col(
        'Secrets',
        'string',
        'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.',
      ),
      AGE,
    ],
    row: (s) => [s.metadata.name, String(arr(s.secrets).length), since(s.metadata.creationTimestamp)],
  },
  Role: {
    columns: [NAME, col('Created At', 'date', 'CreationTimestamp of the role')],
    row: (r) => [r.metadata.name, str(r.metadata.creationTimestamp)],
  },
  ClusterRole: {
    columns: [NAME, col('Created At', 'date', 'CreationTimestamp of the clusterrole')],
    row: (r) => [r.metadata.name, str(r.metadata.creationTimestamp)],
  },
  RoleBinding: { columns: bindingColumns('Role'), row: bindingRow },
  ClusterRoleBinding: { columns: bindingColumns('ClusterRole'), row: bindingRow },
  PodDisruptionBudget: {
    columns: [
      NAME,
      col('Min Available', 'string', 'The minimum number of pods that must be available simultaneously'),
      col('Max Unavailable', 'string', 'The maximum number of pods that may be unavailable simultaneously'),
      col('Allowed Disruptions', 'integer', 'Calculated number of pods that may be disrupted at this time'),
      AGE,
    ],
    row: (p) => [
      p.metadata.name,
      str(o(p.spec).minAvailable, 'N/A'),
      str(o(p.spec).maxUnavailable, 'N/A'),
      num(o(p.status).disruptionsAllowed),
      since(p.metadata.creationTimestamp),
    ],
  },
  Ingress: {
    columns: [
      NAME,
      col('Class', 'string', 'The name of the IngressClass resource that should be used for the ingress'),
      col('Hosts', 'string', 'Hosts that incoming requests are matched against before the ingress rule'),
      col('Address', 'string', 'Address is a list containing ingress points for the load-balancer'),
      col('Ports', 'string', 'Ports of TLS configurations that open'),
      AGE,
    ],
    row: (i) => {
      const hosts = arr(o(i.spec).rules)
        .map((r) => str(r.host))
        .filter(Boolean);
      const addrs = arr(o(o(i.status).loadBalancer).ingress).map((x) => str(x.ip) || str(x.hostname));
      return [
        i.metadata.name,
        orNone(str(o(i.spec).ingressClassName)),
        hosts.length ? hosts.join(',') : '*',
        addrs.join(','),
        arr(o(i.spec).tls).length ? '80, 443' : '80',
        since(i.metadata.creationTimestamp),
      ];
    },
  },
};

const DEFAULT_PRINTER: Printer = {
  columns: [NAME, AGE],
  row: (x) => [x.metadata.name, since(x.metadata.creationTimestamp)],
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function buildTable(
  type: ResourceType,
  objects: KubeObject[],
  listMeta: Record<string, unknown>,
  options: { includeObject: IncludeObject; noHeaders?: boolean },
): Record<string, unknown> {
  const printer = PRINTERS[type.kind] ?? DEFAULT_PRINTER;
  const rows: TableRow[] = objects.map((obj) => {
    const row: TableRow = { cells: printer.row(obj) };
    if (options.includeObject === 'Object')
      row.object = { apiVersion: apiVersionOf(type), kind: type.kind, ...obj };
    else if (options.includeObject === 'Metadata')
      row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: options.noHeaders ? [] : printer.columns,
    rows,
  };
}
