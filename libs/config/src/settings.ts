// Every setting the gateway reads, in one table: its environment variable, where it lands in
// the typed config, its type, default and documentation. docs/configuration.md is kept in
// step with this table by a test, so a setting cannot exist without being documented.

export type SettingType = 'string' | 'int' | 'bool' | 'list' | 'enum' | 'postgres-url';

export interface Setting {
  /** Environment variable, e.g. KGW_HTTP_PORT. */
  env: string;
  /** Dotted path in the config object and in a KGW_CONFIG file, e.g. http.port. */
  path: string;
  type: SettingType;
  /** Default as the value would be written in the environment; absent = unset. */
  default?: string;
  /** Secrets are never printed, not even in an error message. */
  secret?: boolean;
  values?: readonly string[];
  min?: number;
  max?: number;
  doc: string;
}

export const SETTINGS = [
  // http
  {
    env: 'KGW_HTTP_HOST',
    path: 'http.host',
    type: 'string',
    default: '127.0.0.1',
    doc: 'Address the gateway listens on. Use 0.0.0.0 in a cluster.',
  },
  {
    env: 'KGW_HTTP_PORT',
    path: 'http.port',
    type: 'int',
    default: '8080',
    min: 0,
    max: 65535,
    doc: 'Port the gateway listens on (0 picks a free port).',
  },
  {
    env: 'KGW_HTTP_PUBLIC_URL',
    path: 'http.publicUrl',
    type: 'string',
    doc: 'The URL users reach the gateway at (for kubeconfigs and OIDC redirects). Defaults to http://<host>:<port>.',
  },
  {
    env: 'KGW_HTTP_TLS_CERT_FILE',
    path: 'http.tlsCertFile',
    type: 'string',
    doc: 'PEM certificate (chain) for serving HTTPS. With the key file set the gateway serves HTTPS only (kubectl sends credentials only over HTTPS). Demo mode generates a certificate and also answers plain HTTP on the same port.',
  },
  {
    env: 'KGW_HTTP_TLS_KEY_FILE',
    path: 'http.tlsKeyFile',
    type: 'string',
    doc: 'PEM private key for KGW_HTTP_TLS_CERT_FILE.',
  },
  {
    env: 'KGW_HTTP_SHUTDOWN_GRACE_MS',
    path: 'http.shutdownGraceMs',
    type: 'int',
    default: '10000',
    min: 0,
    doc: 'On SIGTERM/SIGINT, how long in-flight requests may take to finish before they are cut.',
  },
  {
    env: 'KGW_HTTP_TRUSTED_PROXIES',
    path: 'http.trustedProxies',
    type: 'list',
    default: '',
    doc: 'Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed. Empty: the client address is the socket peer.',
  },
  {
    env: 'KGW_HTTP_STREAM_KEEPALIVE_SECONDS',
    path: 'http.streamKeepaliveSeconds',
    type: 'int',
    default: '30',
    min: 1,
    doc: 'TCP keepalive interval for long-lived streams (watch, logs -f, exec, tunnels); idle timers never cut them.',
  },
  // db
  {
    env: 'DATABASE_URL',
    path: 'db.url',
    type: 'postgres-url',
    secret: true,
    doc: 'Postgres connection URL. When unset, an embedded Postgres is started with its data in db.dataDir.',
  },
  {
    env: 'KGW_DB_DATA_DIR',
    path: 'db.dataDir',
    type: 'string',
    default: '.kgw/pg',
    doc: 'Data directory of the embedded Postgres (only when DATABASE_URL is unset).',
  },
  {
    env: 'KGW_DB_CONNECT_TIMEOUT_MS',
    path: 'db.connectTimeoutMs',
    type: 'int',
    default: '5000',
    min: 100,
    doc: 'How long to wait for Postgres at boot before failing with the host:port that did not answer.',
  },
  // kube
  {
    env: 'KGW_KUBE_MODE',
    path: 'kube.mode',
    type: 'enum',
    values: ['auto', 'kubeconfig', 'in-cluster', 'demo'],
    default: 'auto',
    doc: 'Which upstream API server: auto = kubeconfig if KGW_KUBECONFIG is set, else in-cluster if KUBERNETES_SERVICE_HOST is set, else the built-in demo simulator.',
  },
  {
    env: 'KGW_KUBECONFIG',
    path: 'kube.kubeconfig',
    type: 'string',
    doc: "Path of a kubeconfig holding the gateway's own credential.",
  },
  {
    env: 'KGW_KUBE_CONTEXT',
    path: 'kube.context',
    type: 'string',
    doc: 'Context in the kubeconfig (default: its current-context).',
  },
  {
    env: 'KUBERNETES_SERVICE_HOST',
    path: 'kube.serviceHost',
    type: 'string',
    doc: 'Set by Kubernetes in every pod; with KUBERNETES_SERVICE_PORT it selects in-cluster mode (service-account token and CA from /var/run/secrets/kubernetes.io/serviceaccount).',
  },
  {
    env: 'KUBERNETES_SERVICE_PORT',
    path: 'kube.servicePort',
    type: 'string',
    doc: 'Set by Kubernetes in every pod (see KUBERNETES_SERVICE_HOST).',
  },
  {
    env: 'KGW_KUBE_SERVICE_ACCOUNT_DIR',
    path: 'kube.serviceAccountDir',
    type: 'string',
    default: '/var/run/secrets/kubernetes.io/serviceaccount',
    doc: 'Where the in-cluster token, ca.crt and namespace are read (and re-read when the token rotates).',
  },
  {
    env: 'KGW_KUBE_SAR_ALLOWED_TTL_MS',
    path: 'kube.sarAllowedTtlMs',
    type: 'int',
    default: '10000',
    min: 0,
    doc: 'How long an allowed SubjectAccessReview decision is reused for the same identity and request attributes.',
  },
  {
    env: 'KGW_KUBE_SAR_DENIED_TTL_MS',
    path: 'kube.sarDeniedTtlMs',
    type: 'int',
    default: '5000',
    min: 0,
    doc: 'How long a denial is reused.',
  },
  {
    env: 'KGW_KUBE_SAR_CACHE_SIZE',
    path: 'kube.sarCacheSize',
    type: 'int',
    default: '10000',
    min: 1,
    doc: 'Most SubjectAccessReview decisions kept (least recently used go first).',
  },
  // auth
  {
    env: 'KGW_AUTH_ADMIN_USERS',
    path: 'auth.adminUsers',
    type: 'list',
    default: '',
    doc: 'Comma-separated users (as the credential names them) who are gateway admins: they may read every audit record.',
  },
  {
    env: 'KGW_AUTH_ADMIN_GROUPS',
    path: 'auth.adminGroups',
    type: 'list',
    default: '',
    doc: 'Comma-separated groups whose members are gateway admins. Demo mode adds kgw:admins.',
  },
  {
    env: 'KGW_AUTH_TOKEN_FILE',
    path: 'auth.tokenFile',
    type: 'string',
    doc: 'Static token file like kube-apiserver\'s --token-auth-file (CSV: token,user,uid,"group1,group2"). Off unless set; the demo writes one.',
  },
  // audit
  {
    env: 'POD_NAME',
    path: 'audit.instance',
    type: 'string',
    doc: 'Name of this gateway instance in audit records (Downward API metadata.name). Defaults to the host name.',
  },
  // demo
  {
    env: 'KGW_DEMO',
    path: 'demo.enabled',
    type: 'enum',
    values: ['auto', 'true', 'false'],
    default: 'auto',
    doc: 'Demo mode: built-in cluster simulator with demo users. auto = on when no upstream is configured.',
  },
  {
    env: 'KGW_DEMO_DIR',
    path: 'demo.dir',
    type: 'string',
    default: '.kgw/demo',
    doc: 'Where demo mode writes credentials.json and per-user kubeconfigs.',
  },
  // log
  {
    env: 'KGW_LOG_LEVEL',
    path: 'log.level',
    type: 'enum',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    doc: 'Log level.',
  },
  {
    env: 'KGW_LOG_FORMAT',
    path: 'log.format',
    type: 'enum',
    values: ['auto', 'json', 'pretty'],
    default: 'auto',
    doc: 'auto = JSON unless stdout is a terminal.',
  },
] as const satisfies readonly Setting[];
