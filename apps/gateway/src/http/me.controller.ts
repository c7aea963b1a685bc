// /kgw/v1/me: who the caller is in OIDC terms, which Kubernetes identity the gateway turns
// that into, and what that identity may do per namespace (SelfSubjectRulesReview, asked under
// impersonation, so the answer is the API server's own and not the gateway's guess).
import { Controller, Get, Query, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { AuthServices } from '../auth/auth-services';
import { sessionTimes } from '../auth/browser-sessions';
import type { AuthenticatedRequest } from '../identity/caller';
import { Caller, KgwAuthGuard } from './kgw-auth.guard';

/** Claims worth showing; the rest of the ID token stays out of responses. */
const SHOWN_CLAIMS = ['sub', 'iss', 'name', 'preferred_username', 'email', 'email_verified'];
const MAX_NAMESPACES = 50;

@Controller('kgw/v1/me')
@UseGuards(KgwAuthGuard)
export class MeController {
  constructor(private readonly authn: AuthServices) {}

  @Get()
  async me(
    @Req() req: Request,
    @Caller() who: AuthenticatedRequest,
    @Query('namespace') namespaceQuery: unknown,
  ): Promise<Record<string, unknown>> {
    const { caller, identity } = who;
    const claims = Object.fromEntries(
      SHOWN_CLAIMS.filter((c) => caller.claims?.[c] !== undefined).map((c) => [c, caller.claims?.[c]]),
    );
    const session =
      caller.method === 'session' ? await this.authn.sessionAuthenticator.sessionOf(req) : undefined;
    const namespaces = await this.namespacesFor(who, namespaceQuery);
    const access = await Promise.all(namespaces.map((ns) => this.rulesIn(who, ns)));
    return {
      user: {
        name: caller.name,
        uid: caller.uid ?? null,
        groups: caller.groups,
        method: caller.method,
        issuer: caller.issuer ?? null,
        tokenId: caller.tokenId ?? null,
        claims,
      },
      kubernetes: {
        username: identity.username,
        uid: identity.uid ?? null,
        groups: identity.groups,
        extra: identity.extra ?? {},
        serviceAccount: identity.serviceAccount ?? null,
      },
      admin: who.admin,
      token: caller.scopes
        ? {
            id: caller.tokenId,
            readOnly: caller.scopes.readOnly,
            namespaces: caller.scopes.namespaces,
            forward: caller.scopes.forward,
            expiresAt: caller.expiresAt?.toISOString() ?? null,
          }
        : null,
      // Only for browser sessions: what the page must send as X-CSRF-Token, and when to refresh.
      csrfToken: session?.csrfToken ?? null,
      session: session ? sessionTimes(session) : null,
      access,
    };
  }

  /** Asked for, else the token's allow-list, else what the identity may list, else its default. */
  private async namespacesFor(who: AuthenticatedRequest, query: unknown): Promise<string[]> {
    const asked = (Array.isArray(query) ? query : query === undefined ? [] : [query])
      .flatMap((q) => String(q).split(','))
      .map((q) => q.trim())
      .filter(Boolean);
    const allowList = who.caller.scopes?.namespaces ?? [];
    if (asked.length > 0) {
      const allowed = allowList.length > 0 ? asked.filter((ns) => allowList.includes(ns)) : asked;
      return [...new Set(allowed)].slice(0, MAX_NAMESPACES);
    }
    if (allowList.length > 0) return allowList.slice(0, MAX_NAMESPACES);
    if (!this.authn.upstream) return [];
    try {
      const listed = await this.authn.kubeAs(who.identity, 'GET', '/api/v1/namespaces');
      const items = (listed.body as { items?: Array<{ metadata?: { name?: string } }> } | undefined)?.items;
      if (listed.status === 200 && items) {
        return items
          .map((i) => i.metadata?.name)
          .filter((n): n is string => typeof n === 'string')
          .slice(0, MAX_NAMESPACES);
      }
    } catch {
      // fall through to the default namespace
    }
    const sa = who.identity.serviceAccount?.split(':')[2];
    return [sa ?? 'default'];
  }

  private async rulesIn(who: AuthenticatedRequest, namespace: string): Promise<Record<string, unknown>> {
    try {
      const review = await this.authn.kubeAs(
        who.identity,
        'POST',
        '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews',
        {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectRulesReview',
          spec: { namespace },
        },
      );
      const status = (review.body as { status?: Record<string, unknown> } | undefined)?.status;
      if (review.status !== 201 && review.status !== 200) {
        return { namespace, error: `the API server answered ${review.status}` };
      }
      return {
        namespace,
        resourceRules: status?.resourceRules ?? [],
        nonResourceRules: status?.nonResourceRules ?? [],
        incomplete: status?.incomplete ?? false,
      };
    } catch (err) {
      return { namespace, error: (err as Error).message };
    }
  }
}
