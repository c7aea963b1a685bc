// The API server the gateway talks to, and the gateway's own credential for it: from a kubeconfig
// (like kubectl proxy), from the pod's service account (in-cluster), or given directly (tests, demo).
// Secrets (tokens, keys) stay inside; describe() is safe to log.
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import * as path from 'node:path';
import { Pool } from 'undici';
import { parse as parseYaml } from 'yaml';
import { UpstreamHttp2Pool } from './upstream-http2';

export type UpstreamSource =
  | { readonly mode: 'kubeconfig'; readonly path: string; readonly context?: string }
  | {
      readonly mode: 'in-cluster';
      readonly env: Readonly<Record<string, string | undefined>>;
      readonly saDir?: string;
    }
  | { readonly mode: 'direct'; readonly url: string; readonly caPem: string; readonly token: string };

export interface UpstreamOptions {
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  /** How often, at most, a token file is stat()ed for rotation. Default 1000 ms. */
  readonly tokenRecheckMs?: number;
  /** Connection pool size per upstream. Default 256. */
  readonly maxSockets?: number;
  /**
   * `auto` (default): HTTP/2 when the API server offers h2 by ALPN, HTTP/1.1 otherwise and for
   * upgrades; `off`: HTTP/1.1 only.
   */
  readonly http2?: 'auto' | 'off';
  /**
   * TCP keepalive delay on every HTTP/1.1 connection to the API server (a watch or logs -f may be
   * quiet for hours; a dead peer must still be found). Default 30 s.
   */
  readonly socketKeepaliveMs?: number;
}

export interface Upstream {
  readonly mode: UpstreamSource['mode'];
  /** The server URL, including any path prefix (Rancher-style `https://host/k8s/clusters/c-1`). */
  readonly url: URL;
  /** The server URL's path without a trailing slash ('' for none); prefix every forwarded path with it. */
  readonly basePath: string;
  /**
   * Keep-alive pool for upgrades (exec, attach, port-forward, proxy); TLS verified against the
   * configured CA (or system roots when none is set).
   */
  readonly agent: https.Agent;
  /**
   * undici's connection pool, same TLS material: every other HTTP/1.1 request (when the API
   * server does not offer h2, or KGW_KUBE_HTTP2=off). Cheaper per request than https.request.
   */
  readonly http1: Pool;
  /** HTTP/2 sessions to the same server with the same TLS material; undefined when turned off. */
  readonly http2: UpstreamHttp2Pool | undefined;
  /** The name the server certificate is checked against, when it differs from the URL host. */
  readonly tlsServerName: string | undefined;
  /** True when the kubeconfig turned TLS verification off; the caller must log a warning. */
  readonly insecureSkipTlsVerify: boolean;
  /** Things the operator should see at startup (already worded for a log line). */
  readonly warnings: readonly string[];
  /** The namespace of the kubeconfig context or of the pod's service account, if known. */
  readonly namespace: string | undefined;
  /** `Bearer <token>` for the gateway's own credential, re-read on rotation; undefined with client-certificate auth. */
  authorizationHeader(): string | undefined;
  /** Where the upstream came from and how the gateway authenticates; no secrets. */
  describe(): string;
  /** Closes pooled connections. */
  close(): void;
}

export class UpstreamConfigError extends Error {
  override readonly name = 'UpstreamConfigError';
}

const DEFAULT_SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function loadUpstream(source: UpstreamSource, options: UpstreamOptions = {}): Upstream {
  switch (source.mode) {
    case 'kubeconfig':
      return fromKubeconfig(source.path, source.context, options);
    case 'in-cluster':
      return fromServiceAccount(source.env, source.saDir ?? DEFAULT_SERVICE_ACCOUNT_DIR, options);
    case 'direct':
      return fromDirect(source.url, source.caPem, source.token, options);
  }
}

interface TlsMaterial {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly insecureSkipTlsVerify: boolean;
  readonly tlsServerName?: string;
}

interface UpstreamParts {
  readonly mode: UpstreamSource['mode'];
  readonly server: URL;
  readonly tls: TlsMaterial;
  readonly token: (() => string) | undefined;
  readonly description: string;
  readonly warnings: string[];
  readonly namespace: string | undefined;
}

function buildUpstream(parts: UpstreamParts, options: UpstreamOptions): Upstream {
  const { server, tls } = parts;
  const tlsOptions = {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    rejectUnauthorized: !tls.insecureSkipTlsVerify,
    // SNI may not carry an IP address (RFC 6066); the certificate is still checked against the IP.
    servername:
      tls.tlsServerName !== undefined && isIP(tls.tlsServerName) === 0 ? tls.tlsServerName : undefined,
    ...(tls.tlsServerName !== undefined
      ? { checkServerIdentity: serverIdentityCheckFor(tls.tlsServerName) }
      : {}),
  };
  const agent = new UpstreamAgent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 256,
    maxFreeSockets: Math.min(64, options.maxSockets ?? 256),
    ...tlsOptions,
  });
  const http1 = new Pool(server.origin, {
    connections: options.maxSockets ?? 256,
    connect: { ...tlsOptions, keepAliveInitialDelay: options.socketKeepaliveMs ?? 30_000 },
  });
  const http2 =
    options.http2 === 'off'
      ? undefined
      : new UpstreamHttp2Pool({ origin: server.origin, tls: tlsOptions }, options.now);
  const basePath = server.pathname.replace(/\/+$/, '');
  const token = parts.token;
  return {
    mode: parts.mode,
    url: server,
    basePath,
    agent,
    http1,
    http2,
    tlsServerName: tls.tlsServerName,
    insecureSkipTlsVerify: tls.insecureSkipTlsVerify,
    warnings: parts.warnings,
    namespace: parts.namespace,
    authorizationHeader: () => (token === undefined ? undefined : `Bearer ${token()}`),
    describe: () => parts.description,
    close: () => {
      agent.destroy();
      http1.destroy(() => undefined);
      http2?.close();
    },
  };
}

/** TLS options that key an https.Agent's pool but that the upstream agent never sets itself. */
const FOREIGN_TLS_OPTIONS = [
  'clientCertEngine',
  'ciphers',
  'pfx',
  'minVersion',
  'maxVersion',
  'secureProtocol',
  'crl',
  'honorCipherOrder',
  'ecdhCurve',
  'dhparam',
  'secureOptions',
  'sessionIdContext',
  'sigalgs',
  'privateKeyIdentifier',
  'privateKeyEngine',
] as const;

/**
 * The upstream's keep-alive pool, with its pool key memoized. Node's https.Agent rebuilds the key
 * twice per request by concatenating every TLS option (the CA and any client certificate turned
 * into text): a few microseconds per request in the proxy's CPU profile. Agent.addRequest lets
 * the agent's own TLS options override the request's, so only the destination (and a TLS option
 * the agent does not set, which no kgw caller passes — such a request is keyed the slow way)
 * can vary between requests.
 */
class UpstreamAgent extends https.Agent {
  private readonly names = new Map<string, string>();

  override getName(options: http.ClientRequestArgs = {}): string {
    const extra = options as Record<string, unknown>;
    if (FOREIGN_TLS_OPTIONS.some((name) => extra[name] !== undefined)) return super.getName(options);
    const destination = `${options.host}|${options.port}|${options.localAddress}|${options.family}|${options.socketPath}|${extra.servername as string}`;
    let name = this.names.get(destination);
    if (name === undefined) {
      name = super.getName(options);
      // Bounded: one upstream has one destination; anything else is an oddity, not a cache.
      if (this.names.size < 16) this.names.set(destination, name);
    }
    return name;
  }
}

function serverIdentityCheckFor(tlsServerName: string): typeof checkServerIdentity {
  // The certificate must match tls-server-name, not the host we dial (often an IP or a tunnel).
  return (_host, certificate) => checkServerIdentity(tlsServerName, certificate);
}

// ---- direct ----------------------------------------------------------------------------------

function fromDirect(url: string, caPem: string, token: string, options: UpstreamOptions): Upstream {
  const server = parseServerUrl(url, 'direct upstream');
  if (caPem.trim() === '') throw new UpstreamConfigError('direct upstream: caPem is empty');
  if (token.trim() === '') throw new UpstreamConfigError('direct upstream: token is empty');
  const fixed = token.trim();
  return buildUpstream(
    {
      mode: 'direct',
      server,
      tls: { ca: caPem, insecureSkipTlsVerify: false },
      token: () => fixed,
      description: `direct upstream ${server.href} (CA given, bearer token)`,
      warnings: [],
      namespace: undefined,
    },
    options,
  );
}

// ---- in-cluster ------------------------------------------------------------------------------

function fromServiceAccount(
  env: Readonly<Record<string, string | undefined>>,
  saDir: string,
  options: UpstreamOptions,
): Upstream {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  if (host === '' || port === '') {
    throw new UpstreamConfigError(
      'in-cluster upstream: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set (is the gateway running in a pod?)',
    );
  }
  const hostPart = isIP(host) === 6 ? `[${host}]` : host;
  const server = parseServerUrl(`https://${hostPart}:${port}`, 'in-cluster upstream');
  const caFile = path.join(saDir, 'ca.crt');
  const tokenFile = path.join(saDir, 'token');
  const ca = readRequiredFile(caFile, 'in-cluster upstream: the service-account CA');
  const token = new RotatingTokenFile(tokenFile, options, undefined);
  const namespace = readOptionalFile(path.join(saDir, 'namespace'))?.trim() || undefined;
  return buildUpstream(
    {
      mode: 'in-cluster',
      server,
      tls: { ca, insecureSkipTlsVerify: false },
      token: () => token.current(),
      description: `in-cluster upstream ${server.href} (CA ${caFile}, service-account token ${tokenFile}, re-read on rotation${namespace ? `, namespace "${namespace}"` : ''})`,
      warnings: [],
      namespace,
    },
    options,
  );
}

/**
 * A token file that rotates underneath us (kubelet-projected service-account tokens, kubeconfig
 * tokenFile). Re-read when its mtime, inode or size changes, checked at most every tokenRecheckMs so
 * the hot path costs one clock read; the last good token is kept if a re-read fails mid-rotation.
 */
export class RotatingTokenFile {
  private token: string;
  private signature: string;
  private checkedAt: number;
  private readonly now: () => number;
  private readonly recheckMs: number;

  constructor(
    private readonly file: string,
    options: UpstreamOptions,
    fallback: string | undefined,
  ) {
    this.now = options.now ?? Date.now;
    this.recheckMs = options.tokenRecheckMs ?? 1000;
    const first = this.read();
    if (first === undefined) {
      if (fallback === undefined) {
        throw new UpstreamConfigError(`token file ${file}: cannot be read or is empty`);
      }
      this.token = fallback;
      this.signature = '';
    } else {
      this.token = first.token;
      this.signature = first.signature;
    }
    this.checkedAt = this.now();
  }

  current(): string {
    const now = this.now();
    if (now - this.checkedAt < this.recheckMs) return this.token;
    this.checkedAt = now;
    const signature = this.statSignature();
    if (signature === undefined || signature === this.signature) return this.token;
    const next = this.read();
    if (next !== undefined) {
      this.token = next.token;
      this.signature = next.signature;
    }
    return this.token;
  }

  private statSignature(): string | undefined {
    try {
      // stat follows the kubelet's ..data symlink swap, so a rotation shows as a new inode or mtime.
      const stats = fs.statSync(this.file);
      return `${stats.ino}:${stats.mtimeMs}:${stats.size}`;
    } catch {
      return undefined;
    }
  }

  private read(): { token: string; signature: string } | undefined {
    const signature = this.statSignature();
    const text = readOptionalFile(this.file);
    if (signature === undefined || text === undefined) return undefined;
    const token = text.trim();
    return token === '' ? undefined : { token, signature };
  }
}

// ---- kubeconfig ------------------------------------------------------------------------------

type YamlMap = Record<string, unknown>;

function fromKubeconfig(
  file: string,
  requestedContext: string | undefined,
  options: UpstreamOptions,
): Upstream {
  const where = `kubeconfig ${file}`;
  const text = readRequiredFile(file, where);
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new UpstreamConfigError(`${where}: not valid YAML: ${(error as Error).message}`);
  }
  if (!isMap(document)) throw new UpstreamConfigError(`${where}: expected a mapping at the top level`);
  const baseDir = path.dirname(path.resolve(file));

  const contextName = requestedContext ?? stringField(document, 'current-context', where) ?? '';
  if (contextName === '') {
    throw new UpstreamConfigError(`${where}: no context was given and current-context is not set`);
  }
  const context = namedEntry(document, 'contexts', 'context', contextName, where);
  const clusterName = stringField(context, 'cluster', `${where}: context "${contextName}"`) ?? '';
  const userName = stringField(context, 'user', `${where}: context "${contextName}"`) ?? '';
  if (clusterName === '')
    throw new UpstreamConfigError(`${where}: context "${contextName}" names no cluster`);
  const cluster = namedEntry(document, 'clusters', 'cluster', clusterName, where);
  const user = userName === '' ? {} : namedEntry(document, 'users', 'user', userName, where);
  const namespace = stringField(context, 'namespace', `${where}: context "${contextName}"`) || undefined;

  const clusterWhere = `${where}: cluster "${clusterName}"`;
  const userWhere = `${where}: user "${userName}"`;
  const warnings: string[] = [];

  const serverText = stringField(cluster, 'server', clusterWhere) ?? '';
  if (serverText === '') throw new UpstreamConfigError(`${clusterWhere}: server is missing`);
  const server = parseServerUrl(serverText, clusterWhere);

  const caData = stringField(cluster, 'certificate-authority-data', clusterWhere);
  const caFile = stringField(cluster, 'certificate-authority', clusterWhere);
  const insecure = booleanField(cluster, 'insecure-skip-tls-verify', clusterWhere);
  const tlsServerName = stringField(cluster, 'tls-server-name', clusterWhere) || undefined;
  if (caData && caFile) {
    throw new UpstreamConfigError(
      `${clusterWhere}: certificate-authority-data and certificate-authority are both set; keep one`,
    );
  }
  if (insecure && (caData || caFile)) {
    // Same rule as clientcmd: a CA together with the insecure flag is a contradiction.
    throw new UpstreamConfigError(
      `${clusterWhere}: insecure-skip-tls-verify cannot be combined with a certificate authority`,
    );
  }
  let ca: Buffer | undefined;
  let caDescription = 'system CA roots';
  if (caData) {
    ca = decodeBase64(caData, `${clusterWhere}: certificate-authority-data`);
    caDescription = 'CA from certificate-authority-data';
  } else if (caFile) {
    const resolved = path.resolve(baseDir, caFile);
    ca = readRequiredFileBuffer(resolved, `${clusterWhere}: certificate-authority`);
    caDescription = `CA ${resolved}`;
  }
  if (insecure) {
    caDescription = 'TLS verification OFF';
    warnings.push(
      `${clusterWhere}: insecure-skip-tls-verify is set; the API server's certificate is NOT verified`,
    );
  }
  if (stringField(cluster, 'proxy-url', clusterWhere)) {
    warnings.push(`${clusterWhere}: proxy-url is not supported and is ignored`);
  }

  for (const unsupported of ['exec', 'auth-provider', 'username', 'password']) {
    if (user[unsupported] !== undefined) {
      throw new UpstreamConfigError(
        `${userWhere}: "${unsupported}" credentials are not supported by kgw; use token, tokenFile or a client certificate`,
      );
    }
  }
  const certData = stringField(user, 'client-certificate-data', userWhere);
  const certFile = stringField(user, 'client-certificate', userWhere);
  const keyData = stringField(user, 'client-key-data', userWhere);
  const keyFile = stringField(user, 'client-key', userWhere);
  if (certData && certFile)
    throw new UpstreamConfigError(
      `${userWhere}: client-certificate-data and client-certificate are both set; keep one`,
    );
  if (keyData && keyFile)
    throw new UpstreamConfigError(`${userWhere}: client-key-data and client-key are both set; keep one`);
  const hasCert = Boolean(certData || certFile);
  const hasKey = Boolean(keyData || keyFile);
  if (hasCert !== hasKey) {
    throw new UpstreamConfigError(
      `${userWhere}: ${hasCert ? 'client-key(-data) is missing for the client certificate' : 'client-certificate(-data) is missing for the client key'}`,
    );
  }
  const cert = certData
    ? decodeBase64(certData, `${userWhere}: client-certificate-data`)
    : certFile
      ? readRequiredFileBuffer(path.resolve(baseDir, certFile), `${userWhere}: client-certificate`)
      : undefined;
  const key = keyData
    ? decodeBase64(keyData, `${userWhere}: client-key-data`)
    : keyFile
      ? readRequiredFileBuffer(path.resolve(baseDir, keyFile), `${userWhere}: client-key`)
      : undefined;

  const staticToken = stringField(user, 'token', userWhere)?.trim() || undefined;
  const tokenFile = stringField(user, 'tokenFile', userWhere) || undefined;
  let token: (() => string) | undefined;
  const auth: string[] = [];
  if (tokenFile) {
    // client-go prefers a readable tokenFile and falls back to the inline token.
    const resolved = path.resolve(baseDir, tokenFile);
    const rotating = new RotatingTokenFile(resolved, options, staticToken);
    token = () => rotating.current();
    auth.push(`bearer token from ${resolved}`);
  } else if (staticToken) {
    token = () => staticToken;
    auth.push('bearer token');
  }
  if (cert) auth.push('client certificate');
  if (auth.length === 0) {
    throw new UpstreamConfigError(
      `${userWhere}: no credential; set token, tokenFile or client-certificate(-data) + client-key(-data)`,
    );
  }

  const serverNameNote = tlsServerName ? `, tls-server-name "${tlsServerName}"` : '';
  return buildUpstream(
    {
      mode: 'kubeconfig',
      server,
      tls: { ca, cert, key, insecureSkipTlsVerify: insecure, tlsServerName },
      token,
      description: `kubeconfig ${file} (context "${contextName}", cluster "${clusterName}", user "${userName}") → ${server.href} (${caDescription}${serverNameNote}; auth: ${auth.join(' + ')})`,
      warnings,
      namespace,
    },
    options,
  );
}

function namedEntry(
  document: YamlMap,
  listKey: string,
  itemKey: string,
  name: string,
  where: string,
): YamlMap {
  const list = document[listKey];
  if (list !== undefined && list !== null && !Array.isArray(list)) {
    throw new UpstreamConfigError(`${where}: "${listKey}" must be a list`);
  }
  const entries = (list ?? []) as unknown[];
  const names: string[] = [];
  for (const entry of entries) {
    if (!isMap(entry)) continue;
    if (typeof entry.name === 'string') names.push(entry.name);
    if (entry.name === name) {
      const body = entry[itemKey];
      if (body === undefined || body === null) return {};
      if (!isMap(body)) throw new UpstreamConfigError(`${where}: ${itemKey} "${name}" must be a mapping`);
      return body;
    }
  }
  const known = names.length === 0 ? 'none defined' : `have ${names.map((n) => `"${n}"`).join(', ')}`;
  throw new UpstreamConfigError(`${where}: ${itemKey} "${name}" not found in ${listKey} (${known})`);
}

function stringField(map: YamlMap, key: string, where: string): string | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new UpstreamConfigError(`${where}: "${key}" must be a string`);
  return value;
}

function booleanField(map: YamlMap, key: string, where: string): boolean {
  const value = map[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new UpstreamConfigError(`${where}: "${key}" must be true or false`);
  return value;
}

function isMap(value: unknown): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function decodeBase64(data: string, where: string): Buffer {
  const compact = data.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new UpstreamConfigError(`${where}: not valid base64`);
  }
  const decoded = Buffer.from(compact, 'base64');
  if (decoded.length === 0) throw new UpstreamConfigError(`${where}: is empty`);
  return decoded;
}

function parseServerUrl(text: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UpstreamConfigError(`${where}: server "${text}" is not a valid URL`);
  }
  if (url.protocol !== 'https:') {
    // Over plain HTTP, credentials and impersonation headers would cross the network in clear text.
    throw new UpstreamConfigError(`${where}: server "${text}" must use https://`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new UpstreamConfigError(`${where}: server URL must not carry credentials`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new UpstreamConfigError(`${where}: server URL must not have a query or fragment`);
  }
  return url;
}

function readRequiredFile(file: string, what: string): string {
  return readRequiredFileBuffer(file, what).toString('utf8');
}

function readRequiredFileBuffer(file: string, what: string): Buffer {
  try {
    const content = fs.readFileSync(file);
    if (content.length === 0) throw new UpstreamConfigError(`${what}: file ${file} is empty`);
    return content;
  } catch (error) {
    if (error instanceof UpstreamConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new UpstreamConfigError(`${what}: cannot read ${file} (${code})`);
  }
}

function readOptionalFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
