// The labels of kgw_requests_total and kgw_request_duration_seconds, kept bounded.
//
// Guards: the number of time series (Prometheus memory, the scrape size, the gateway's own
// memory). Trusts: values the code itself produces (verbs from RequestInfo, decisions, status
// codes) and API resources the cluster proved it has. Refuses: label values an attacker picks —
// `/apis/<random>/v1/<random>` must not add a series per request — so group, version, resource and
// subresource are kept only for the built-in Kubernetes resources below, or for a resource the
// API server answered with success (a CRD that exists), up to LEARNED_MAX of those; anything else
// is counted under resource="(other)". No user, token, namespace or name is ever a label.

/** What the labels are read from: the exchange's audit event has these fields. */
export interface FinishedRequest {
  verb?: string;
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  code: number;
  decision: string;
  latencyMs: number;
}

export const REQUEST_LABELS = [
  'verb',
  'group',
  'version',
  'resource',
  'subresource',
  'scope',
  'code',
  'decision',
] as const;
export type RequestLabel = (typeof REQUEST_LABELS)[number];
export type RequestLabels = Record<RequestLabel, string>;

/** Built-in API groups and their resources: labelled from the first request on, allowed or not. */
const BUILT_IN: Record<string, readonly string[]> = {
  '': [
    'bindings',
    'componentstatuses',
    'configmaps',
    'endpoints',
    'events',
    'limitranges',
    'namespaces',
    'nodes',
    'persistentvolumeclaims',
    'persistentvolumes',
    'pods',
    'podtemplates',
    'replicationcontrollers',
    'resourcequotas',
    'secrets',
    'serviceaccounts',
    'services',
  ],
  apps: ['controllerrevisions', 'daemonsets', 'deployments', 'replicasets', 'statefulsets'],
  batch: ['cronjobs', 'jobs'],
  autoscaling: ['horizontalpodautoscalers'],
  policy: ['poddisruptionbudgets'],
  'networking.k8s.io': ['ingressclasses', 'ingresses', 'networkpolicies'],
  'discovery.k8s.io': ['endpointslices'],
  'coordination.k8s.io': ['leases'],
  'events.k8s.io': ['events'],
  'storage.k8s.io': ['csidrivers', 'csinodes', 'csistoragecapacities', 'storageclasses', 'volumeattachments'],
  'rbac.authorization.k8s.io': ['clusterrolebindings', 'clusterroles', 'rolebindings', 'roles'],
  'authorization.k8s.io': [
    'localsubjectaccessreviews',
    'selfsubjectaccessreviews',
    'selfsubjectrulesreviews',
    'subjectaccessreviews',
  ],
  'authentication.k8s.io': ['selfsubjectreviews', 'tokenreviews'],
  'apiextensions.k8s.io': ['customresourcedefinitions'],
  'apiregistration.k8s.io': ['apiservices'],
  'admissionregistration.k8s.io': ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
  'certificates.k8s.io': ['certificatesigningrequests'],
  'scheduling.k8s.io': ['priorityclasses'],
  'node.k8s.io': ['runtimeclasses'],
  'flowcontrol.apiserver.k8s.io': ['flowschemas', 'prioritylevelconfigurations'],
  'metrics.k8s.io': ['nodes', 'pods'],
};

const BUILT_IN_SUBRESOURCES = new Set([
  '',
  'status',
  'scale',
  'log',
  'exec',
  'attach',
  'portforward',
  'proxy',
  'binding',
  'eviction',
  'ephemeralcontainers',
  'resize',
  'token',
  'approval',
  'finalize',
]);

/** Verbs of RequestInfo, and the HTTP methods a non-resource request is named by. */
const VERBS = new Set([
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
  'proxy',
  'head',
  'options',
  'post',
  'put',
]);

/** Versions the built-in resources are served at (a fixed few, so versions cannot add series). */
const BUILT_IN_VERSIONS = new Set([
  'v1',
  'v2',
  'v1beta1',
  'v1beta2',
  'v1beta3',
  'v2beta1',
  'v2beta2',
  'v1alpha1',
  'v1alpha2',
  'v1alpha3',
]);

/** Resources learned from successful answers; beyond this many, new ones count as "(other)". */
export const LEARNED_MAX = 500;

export const OTHER_RESOURCE = '(other)';

export class RequestLabeller {
  private readonly builtIn = new Set<string>();
  private readonly learned = new Set<string>();

  constructor(private readonly learnedMax = LEARNED_MAX) {
    for (const [group, resources] of Object.entries(BUILT_IN))
      for (const resource of resources) this.builtIn.add(`${group}/${resource}`);
  }

  labels(event: FinishedRequest): RequestLabels {
    const group = event.apiGroup ?? '';
    const version = event.apiVersion ?? '';
    const resource = event.resource ?? '';
    const subresource = event.subresource ?? '';
    const verb = event.verb !== undefined && VERBS.has(event.verb) ? event.verb : '';
    const code = event.code >= 100 && event.code <= 599 ? String(event.code) : '0';
    if (resource === '')
      return {
        verb,
        group: '',
        version: '',
        resource: '',
        subresource: '',
        scope: '',
        code,
        decision: event.decision,
      };
    const scope = event.name ? 'resource' : event.namespace ? 'namespace' : 'cluster';
    if (this.known(group, version, resource, subresource, event.code))
      return { verb, group, version, resource, subresource, scope, code, decision: event.decision };
    return {
      verb,
      group: '',
      version: '',
      resource: OTHER_RESOURCE,
      subresource: '',
      scope,
      code,
      decision: event.decision,
    };
  }

  private known(
    group: string,
    version: string,
    resource: string,
    subresource: string,
    code: number,
  ): boolean {
    if (
      BUILT_IN_VERSIONS.has(version) &&
      BUILT_IN_SUBRESOURCES.has(subresource) &&
      this.builtIn.has(`${group}/${resource}`)
    )
      return true;
    const key = `${group}/${version}/${resource}/${subresource}`;
    if (this.learned.has(key)) return true;
    // The API server served it: the resource exists (a CRD, an aggregated API).
    if (((code >= 200 && code < 300) || code === 101) && this.learned.size < this.learnedMax) {
      this.learned.add(key);
      return true;
    }
    return false;
  }
}
