// Discovery documents (aggregated apidiscovery.k8s.io/v2 and the legacy APIGroupList /
// APIResourceList) and the OpenAPI v3 documents kubectl reads for validation and explain,
// all generated from the resource table.
import { createHash } from 'node:crypto';
import { apiVersionOf, GROUP_ORDER, RESOURCE_TYPES, type ResourceType } from './resources';

export const AGGREGATED_DISCOVERY_CONTENT_TYPE =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
export const AGGREGATED_DISCOVERY_V2BETA1_CONTENT_TYPE =
  'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

function typesIn(group: string): ResourceType[] {
  return RESOURCE_TYPES.filter((t) => t.group === group).sort((a, b) => (a.plural < b.plural ? -1 : 1));
}

function groupVersions(group: string): string[] {
  return [...new Set(typesIn(group).map((t) => t.version))];
}

function aggregatedResource(t: ResourceType): Record<string, unknown> {
  const r: Record<string, unknown> = {
    resource: t.plural,
    responseKind: { group: t.group, version: t.version, kind: t.kind },
    scope: t.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: t.singular,
    verbs: t.verbs,
  };
  if (t.shortNames) r.shortNames = t.shortNames;
  if (t.categories) r.categories = t.categories;
  if (t.subresources.length) {
    r.subresources = t.subresources.map((s) => ({
      subresource: s.name,
      responseKind: { group: s.group ?? t.group, version: s.version ?? t.version, kind: s.kind },
      verbs: s.verbs,
    }));
  }
  return r;
}

function aggregatedGroup(group: string): Record<string, unknown> {
  return {
    metadata: group ? { name: group, creationTimestamp: null } : { creationTimestamp: null },
    versions: groupVersions(group).map((version) => ({
      version,
      resources: typesIn(group)
        .filter((t) => t.version === version)
        .map(aggregatedResource),
      freshness: 'Current',
    })),
  };
}

export function aggregatedDiscovery(
  legacy: boolean,
  apiVersion = 'apidiscovery.k8s.io/v2',
): Record<string, unknown> {
  const groups = legacy ? [''] : GROUP_ORDER.filter((g) => g !== '');
  return { kind: 'APIGroupDiscoveryList', apiVersion, metadata: {}, items: groups.map(aggregatedGroup) };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(group: string): Record<string, unknown> {
  const versions = groupVersions(group).map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function apiGroupList(): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: GROUP_ORDER.filter((g) => g !== '').map(apiGroup),
  };
}

export function apiGroupDocument(group: string): Record<string, unknown> | undefined {
  if (!GROUP_ORDER.includes(group) || group === '') return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group) };
}

export function apiResourceList(group: string, version: string): Record<string, unknown> | undefined {
  const types = typesIn(group).filter((t) => t.version === version);
  if (types.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const t of types) {
    const r: Record<string, unknown> = {
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.verbs,
    };
    if (t.shortNames) r.shortNames = t.shortNames;
    if (t.categories) r.categories = t.categories;
    r.storageVersionHash = createHash('sha256')
      .update(`${apiVersionOf(t)}/${t.kind}`)
      .digest('base64')
      .slice(0, 11);
    resources.push(r);
    for (const s of t.subresources) {
      const sr: Record<string, unknown> = {
        name: `${t.plural}/${s.name}`,
        singularName: '',
        namespaced: t.namespaced,
        kind: s.kind,
        verbs: s.verbs,
      };
      if (s.group !== undefined) {
        sr.group = s.group;
        sr.version = s.version;
      }
      resources.push(sr);
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

// ---- OpenAPI v3 ----

const GROUP_PACKAGE: Record<string, string> = {
  '': 'core',
  apps: 'apps',
  'rbac.authorization.k8s.io': 'rbac',
  'discovery.k8s.io': 'discovery',
  policy: 'policy',
  'networking.k8s.io': 'networking',
  'authentication.k8s.io': 'authentication',
  'authorization.k8s.io': 'authorization',
};

export function schemaName(t: { group: string; version: string; kind: string }): string {
  return `io.k8s.api.${GROUP_PACKAGE[t.group] ?? t.group}.${t.version}.${t.kind}`;
}

const FIELD_DOCS: Record<string, string> = {
  apiVersion:
    'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
  kind: 'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
  metadata:
    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
  spec: 'Specification of the desired behavior of the object. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status',
  status:
    'Most recently observed status of the object. This data may not be up to date. Populated by the system. Read-only. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status',
};

const KIND_DOCS: Record<string, string> = {
  Pod: 'Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.',
  Service:
    'Service is a named abstraction of software service (for example, mysql) consisting of local port (for example 3306) that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.',
  Deployment: 'Deployment enables declarative updates for Pods and ReplicaSets.',
  Namespace: 'Namespace provides a scope for Names. Use of multiple namespaces is optional.',
  ConfigMap: 'ConfigMap holds configuration data for pods to consume.',
};

function kindSchema(t: ResourceType): Record<string, unknown> {
  const props: Record<string, unknown> = {
    apiVersion: { type: 'string', description: FIELD_DOCS.apiVersion },
    kind: { type: 'string', description: FIELD_DOCS.kind },
    metadata: {
      type: 'object',
      description: FIELD_DOCS.metadata,
      'x-kubernetes-preserve-unknown-fields': true,
    },
  };
  if (
    ![
      'ConfigMap',
      'Secret',
      'ServiceAccount',
      'Event',
      'Endpoints',
      'EndpointSlice',
      'Role',
      'ClusterRole',
      'RoleBinding',
      'ClusterRoleBinding',
    ].includes(t.kind)
  ) {
    props.spec = {
      type: 'object',
      description: FIELD_DOCS.spec,
      'x-kubernetes-preserve-unknown-fields': true,
    };
    props.status = {
      type: 'object',
      description: FIELD_DOCS.status,
      'x-kubernetes-preserve-unknown-fields': true,
    };
  }
  return {
    description: KIND_DOCS[t.kind] ?? `${t.kind} is a ${t.group || 'core'} ${t.version} resource.`,
    type: 'object',
    properties: props,
    'x-kubernetes-group-version-kind': [{ group: t.group, version: t.version, kind: t.kind }],
  };
}

const WRITE_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation'].map((name) => ({
  name,
  in: 'query',
  schema: { type: 'string', uniqueItems: true },
}));

export function openApiV3Document(group: string, version: string): Record<string, unknown> | undefined {
  const types = typesIn(group).filter((t) => t.version === version);
  if (types.length === 0) return undefined;
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const t of types) {
    schemas[schemaName(t)] = kindSchema(t);
    const gvk = { group: t.group, version: t.version, kind: t.kind };
    const base = t.namespaced ? `${prefix}/namespaces/{namespace}/${t.plural}` : `${prefix}/${t.plural}`;
    const op = (action: string, params = WRITE_PARAMS): Record<string, unknown> => ({
      operationId: `${action}${t.kind}`,
      parameters: params,
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      responses: {
        '200': {
          description: 'OK',
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${schemaName(t)}` } } },
        },
      },
    });
    paths[base] = { post: op('post'), get: op('list', []) };
    if (!t.virtual) {
      paths[`${base}/{name}`] = {
        get: op('get', []),
        put: op('put'),
        patch: op('patch', [
          ...WRITE_PARAMS,
          { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
        ]),
        delete: op('delete', []),
      };
    }
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.4' },
    paths,
    components: { schemas },
  };
}

export function openApiV3Index(): { paths: Record<string, { serverRelativeURL: string }> } {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const g of GROUP_ORDER) {
    for (const v of groupVersions(g)) {
      const key = g ? `apis/${g}/${v}` : `api/${v}`;
      const doc = openApiV3Document(g, v);
      const hash = createHash('sha512').update(JSON.stringify(doc)).digest('hex').toUpperCase().slice(0, 128);
      paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hash}` };
    }
  }
  return { paths };
}
