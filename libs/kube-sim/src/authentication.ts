// Authentication: decides who is calling. It trusts three credentials only: a static bearer token
// it issued at start (admin and demo users), a service-account JWT it signed itself (TokenRequest or
// a legacy token Secret) whose service account (and bound object) still exists with the same uid,
// and a client certificate signed by its own CA (CN = user, O = groups). It refuses everything else:
// an unknown or expired token is a 401 even when a certificate is also presented, and no credential
// at all is a 401 (anonymous access is off), as the API server does with --anonymous-auth=false.
import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { SimUserInfo } from './contract';
import type { ObjectStore } from './store';

export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const LEGACY_ISSUER = 'kubernetes/serviceaccount';

export const AUTHENTICATED_GROUP = 'system:authenticated';
export const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';

export function serviceAccountGroups(namespace: string): string[] {
  return [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${namespace}`];
}

/** Splits `system:serviceaccount:<ns>:<name>`; undefined for any other username. */
export function splitServiceAccountUsername(
  username: string,
): { namespace: string; name: string } | undefined {
  const prefix = 'system:serviceaccount:';
  if (!username.startsWith(prefix)) return undefined;
  const parts = username.slice(prefix.length).split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { namespace: parts[0], name: parts[1] };
}

export interface BoundObjectRef {
  kind: 'Pod' | 'Secret';
  name: string;
  uid?: string;
  apiVersion?: string;
}

export interface IssuedToken {
  token: string;
  expirationTimestamp: string;
}

interface ServiceAccountClaims {
  iss: string;
  sub: string;
  aud?: string[];
  exp?: number;
  iat?: number;
  nbf?: number;
  jti?: string;
  'kubernetes.io'?: {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    secret?: { name: string; uid: string };
  };
  'kubernetes.io/serviceaccount/namespace'?: string;
  'kubernetes.io/serviceaccount/secret.name'?: string;
  'kubernetes.io/serviceaccount/service-account.name'?: string;
  'kubernetes.io/serviceaccount/service-account.uid'?: string;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/** Signs and verifies service-account tokens (ES256), as the API server's token generator and authenticator do. */
export class ServiceAccountTokens {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly keyId: string;

  constructor(private readonly store: ObjectStore) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
    this.keyId = createHash('sha256')
      .update(pair.publicKey.export({ format: 'der', type: 'spki' }))
      .digest('base64url');
  }

  private signClaims(claims: ServiceAccountClaims): string {
    const header = b64url(JSON.stringify({ alg: 'ES256', kid: this.keyId }));
    const payload = b64url(JSON.stringify(claims));
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
      key: this.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${header}.${payload}.${b64url(signature)}`;
  }

  /** A TokenRequest token. The caller has checked that the service account exists. */
  issue(
    namespace: string,
    name: string,
    uid: string,
    options: { audiences?: string[]; expirationSeconds?: number; boundObject?: BoundObjectRef } = {},
  ): IssuedToken {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + (options.expirationSeconds ?? 3600);
    const k8s: NonNullable<ServiceAccountClaims['kubernetes.io']> = {
      namespace,
      serviceaccount: { name, uid },
    };
    if (options.boundObject?.kind === 'Pod')
      k8s.pod = { name: options.boundObject.name, uid: options.boundObject.uid ?? '' };
    if (options.boundObject?.kind === 'Secret')
      k8s.secret = { name: options.boundObject.name, uid: options.boundObject.uid ?? '' };
    const token = this.signClaims({
      aud: options.audiences?.length ? options.audiences : [API_AUDIENCE],
      exp,
      iat: now,
      iss: ISSUER,
      jti: randomUUID(),
      'kubernetes.io': k8s,
      nbf: now,
      sub: `system:serviceaccount:${namespace}:${name}`,
    });
    return { token, expirationTimestamp: new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') };
  }

  /** A legacy, non-expiring token for a `kubernetes.io/service-account-token` Secret. */
  issueLegacy(namespace: string, saName: string, saUid: string, secretName: string): string {
    return this.signClaims({
      iss: LEGACY_ISSUER,
      'kubernetes.io/serviceaccount/namespace': namespace,
      'kubernetes.io/serviceaccount/secret.name': secretName,
      'kubernetes.io/serviceaccount/service-account.name': saName,
      'kubernetes.io/serviceaccount/service-account.uid': saUid,
      sub: `system:serviceaccount:${namespace}:${saName}`,
    });
  }

  /** The user a token stands for, or undefined when it is not one of ours or no longer valid. */
  authenticate(
    token: string,
    audiences: string[] = [API_AUDIENCE],
  ): { user: SimUserInfo; audiences: string[] } | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    let claims: ServiceAccountClaims;
    try {
      const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as { alg?: string };
      if (header.alg !== 'ES256') return undefined;
      const ok = verify(
        'sha256',
        Buffer.from(`${parts[0]}.${parts[1]}`),
        { key: this.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(parts[2], 'base64url'),
      );
      if (!ok) return undefined;
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as ServiceAccountClaims;
    } catch {
      return undefined;
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss === LEGACY_ISSUER) {
      const ns = claims['kubernetes.io/serviceaccount/namespace'] ?? '';
      const saName = claims['kubernetes.io/serviceaccount/service-account.name'] ?? '';
      const sa = this.store.peek('serviceaccounts', ns, saName);
      if (!sa || sa.metadata.uid !== claims['kubernetes.io/serviceaccount/service-account.uid'])
        return undefined;
      const secret = this.store.peek('secrets', ns, claims['kubernetes.io/serviceaccount/secret.name'] ?? '');
      if (!secret) return undefined;
      return {
        user: {
          username: claims.sub,
          uid: String(sa.metadata.uid),
          groups: [...serviceAccountGroups(ns), AUTHENTICATED_GROUP],
        },
        audiences: [API_AUDIENCE],
      };
    }
    if (claims.iss !== ISSUER) return undefined;
    const k8s = claims['kubernetes.io'];
    if (!k8s) return undefined;
    if (claims.exp !== undefined && claims.exp < now) return undefined;
    if (claims.nbf !== undefined && claims.nbf > now + 60) return undefined;
    const matched = (claims.aud ?? []).filter((a) => audiences.includes(a));
    if (matched.length === 0) return undefined;
    const sa = this.store.peek('serviceaccounts', k8s.namespace, k8s.serviceaccount.name);
    if (!sa || sa.metadata.uid !== k8s.serviceaccount.uid) return undefined;
    const extra: Record<string, string[]> = {};
    if (claims.jti) extra['authentication.kubernetes.io/credential-id'] = [`JTI=${claims.jti}`];
    if (k8s.pod) {
      const pod = this.store.peek('pods', k8s.namespace, k8s.pod.name);
      if (!pod || pod.metadata.uid !== k8s.pod.uid) return undefined;
      extra['authentication.kubernetes.io/pod-name'] = [k8s.pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [k8s.pod.uid];
    }
    if (k8s.secret) {
      const secret = this.store.peek('secrets', k8s.namespace, k8s.secret.name);
      if (!secret || secret.metadata.uid !== k8s.secret.uid) return undefined;
    }
    return {
      user: {
        username: claims.sub,
        uid: String(sa.metadata.uid),
        groups: [...serviceAccountGroups(k8s.namespace), AUTHENTICATED_GROUP],
        extra,
      },
      audiences: matched,
    };
  }
}

export type AuthenticationResult =
  | { ok: true; user: SimUserInfo; method: 'token' | 'serviceaccount' | 'certificate' }
  | { ok: false; credentialPresented: boolean };

function withAuthenticatedGroup(user: SimUserInfo): SimUserInfo {
  return user.groups.includes(AUTHENTICATED_GROUP)
    ? user
    : { ...user, groups: [...user.groups, AUTHENTICATED_GROUP] };
}

export class Authenticator {
  /** token → user; the only place static token values live. */
  private readonly staticTokens = new Map<string, SimUserInfo>();

  constructor(private readonly serviceAccounts: ServiceAccountTokens) {}

  /** Registers a static bearer token and returns it (a fresh random one unless given). */
  addStaticToken(user: SimUserInfo, token = randomBytes(24).toString('base64url')): string {
    this.staticTokens.set(token, user);
    return token;
  }

  authenticateToken(
    token: string,
    audiences?: string[],
  ): { user: SimUserInfo; method: 'token' | 'serviceaccount'; audiences: string[] } | undefined {
    const fixed = this.staticTokens.get(token);
    if (fixed && (!audiences || audiences.includes(API_AUDIENCE))) {
      return {
        user: withAuthenticatedGroup(structuredClone(fixed)),
        method: 'token',
        audiences: [API_AUDIENCE],
      };
    }
    const sa = this.serviceAccounts.authenticate(token, audiences);
    return sa ? { ...sa, method: 'serviceaccount' } : undefined;
  }

  authenticate(req: IncomingMessage): AuthenticationResult {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      const result = m ? this.authenticateToken(m[1]) : undefined;
      if (!result) return { ok: false, credentialPresented: true };
      return { ok: true, user: result.user, method: result.method };
    }
    const socket = req.socket as TLSSocket;
    if (typeof socket.getPeerCertificate === 'function' && socket.authorized) {
      const cert = socket.getPeerCertificate();
      const subject = cert?.subject as unknown as Record<string, string | string[]> | undefined;
      const cn = subject?.CN;
      if (typeof cn === 'string' && cn) {
        const o = subject?.O;
        const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
        return { ok: true, user: withAuthenticatedGroup({ username: cn, groups }), method: 'certificate' };
      }
    }
    return { ok: false, credentialPresented: false };
  }
}
