// Browser login against the configured OpenID provider: authorization code + PKCE + state +
// nonce, through passport and openid-client's strategy.
//
// Guards: how a browser session comes to be. Trusts: the provider's discovery document, its
// token endpoint (over TLS, or plain HTTP on loopback for the built-in dev provider only) and
// the ID token openid-client has verified (signature, issuer, audience, nonce, expiry).
// Refuses: a callback without the login transaction it belongs to (the transaction is a
// server-side row named by a short-lived cookie, consumed on first use, so a code cannot be
// replayed or injected into someone else's browser), a state or nonce that does not match,
// a code the provider does not accept.
//
// openid-client's strategy keeps its per-login state in `req.session[key]`. kgw has no
// express-session: the BrowserLoginController loads that one object from the login transaction
// before a callback and stores it when the strategy redirects to the provider (see
// `persistBeforeRedirect`), so nothing but a random id ever sits in the browser.
import type { IncomingMessage, ServerResponse } from 'node:http';
import passportModule from 'passport';
import type { Request } from 'express';
import { oidcClient, oidcPassport, type OpenIdClient } from './esm-packages';

export interface OidcLoginOptions {
  issuerUrl: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
}

/** What a completed login or refresh yields; the tokens go only into the session row. */
export interface OidcTokens {
  claims: Record<string, unknown>;
  idToken?: string;
  refreshToken?: string;
  /** When the ID token expires: the session refreshes then. */
  expiresAt: Date;
}

export type LoginState = Record<string, unknown>;

type StrategyOutcome =
  | { kind: 'redirect'; url: string }
  | { kind: 'success'; tokens: OidcTokens }
  | { kind: 'fail'; message: string }
  | { kind: 'error'; error: Error };

const STRATEGY = 'kgw-oidc';

function isLoopbackHttp(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

export class OidcLogin {
  private configuration: Promise<OpenIdClient.Configuration> | undefined;
  private passport: passportModule.PassportStatic | undefined;

  constructor(readonly options: OidcLoginOptions) {}

  get issuer(): string {
    return this.options.issuerUrl;
  }

  /** Discovery, once it has succeeded; a failure is retried on the next login. */
  config(): Promise<OpenIdClient.Configuration> {
    if (!this.configuration) {
      const { issuerUrl, clientId, clientSecret } = this.options;
      const attempt = oidcClient.discovery(
        new URL(issuerUrl),
        clientId,
        clientSecret ? { client_secret: clientSecret } : undefined,
        clientSecret ? oidcClient.ClientSecretBasic(clientSecret) : oidcClient.None(),
        // Plain HTTP only for a provider on loopback (the built-in dev provider).
        isLoopbackHttp(issuerUrl) ? { execute: [oidcClient.allowInsecureRequests] } : undefined,
      );
      this.configuration = attempt;
      attempt.catch(() => {
        if (this.configuration === attempt) this.configuration = undefined;
      });
    }
    return this.configuration;
  }

  /**
   * Runs the strategy for one request: the first leg (no `code`) answers with the provider's
   * authorization URL, and `loginState` is filled with what the callback needs; the second
   * leg (with `code`) is given that state back and answers with the verified tokens.
   */
  async run(
    req: IncomingMessage,
    res: ServerResponse,
    loginState: LoginState,
    callbackUrl: string,
  ): Promise<StrategyOutcome> {
    const passport = await this.passportInstance();
    // The strategy reads and writes only this object (its per-issuer key in it).
    (req as IncomingMessage & { session?: LoginState }).session = loginState;
    return new Promise<StrategyOutcome>((done) => {
      const middleware = passport.authenticate(
        STRATEGY,
        { session: false, callbackURL: callbackUrl, kgwDone: done } as Record<string, unknown>,
        (err: Error | null, user: OidcTokens | false, info?: { message?: string }) => {
          if (err) done({ kind: 'error', error: err });
          else if (!user) done({ kind: 'fail', message: info?.message ?? 'login failed' });
          else done({ kind: 'success', tokens: user });
        },
      ) as (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
      middleware(req, res, (err?: unknown) => done({ kind: 'error', error: err as Error }));
    });
  }

  /**
   * Whether the provider answers now (its discovery document, fetched afresh within
   * `timeoutMs`): undefined when it does, else why not. A login is only started when it does,
   * so a browser is never sent to a provider that is down.
   */
  async unreachable(timeoutMs = 3000): Promise<string | undefined> {
    const url = `${this.options.issuerUrl.replace(/\/$/, '')}/.well-known/openid-configuration`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
      await res.body?.cancel();
      return res.ok ? undefined : `its discovery document answered ${res.status}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000}s`
        : (cause ?? (err as Error).message);
    }
  }

  async refresh(refreshToken: string): Promise<OidcTokens> {
    const tokens = await oidcClient.refreshTokenGrant(await this.config(), refreshToken);
    return toOidcTokens(tokens, refreshToken);
  }

  /** RP-initiated logout URL, when the provider supports it. */
  async endSessionUrl(
    idToken: string | undefined,
    postLogoutRedirectUri: string,
  ): Promise<string | undefined> {
    const config = await this.config().catch(() => undefined);
    if (!config?.serverMetadata().end_session_endpoint) return undefined;
    const params: Record<string, string> = {
      post_logout_redirect_uri: postLogoutRedirectUri,
      client_id: this.options.clientId,
    };
    if (idToken) params.id_token_hint = idToken;
    return oidcClient.buildEndSessionUrl(config, params).href;
  }

  private async passportInstance(): Promise<passportModule.PassportStatic> {
    if (this.passport) return this.passport;
    const config = await this.config();
    // Its own instance: strategies are per gateway, never on the process-wide singleton.
    const passport = new passportModule.Passport() as passportModule.PassportStatic;
    passport.use(
      STRATEGY,
      new KgwOidcStrategy(
        { config, scope: this.options.scopes.join(' '), name: STRATEGY, sessionKey: 'oidc' },
        (tokens, verified) => {
          verified(null, toOidcTokens(tokens));
        },
      ),
    );
    this.passport = passport;
    return passport;
  }
}

/**
 * openid-client's strategy with two changes: it always sends `state` and `nonce` (it would
 * skip both when the provider supports PKCE; we want all three), and it hands the
 * authorization URL back to the caller instead of writing the redirect itself, so the login
 * transaction is stored before the browser can come back.
 */
class KgwOidcStrategy extends oidcPassport.Strategy {
  override authorizationRequestParams(req: Request, options: OpenIdClientPassportOptions): URLSearchParams {
    const params = new URLSearchParams(super.authorizationRequestParams(req, options));
    params.set('state', oidcClient.randomState());
    params.set('nonce', oidcClient.randomNonce());
    return params;
  }

  override authenticate(
    req: Request,
    options: OpenIdClientPassportOptions & { kgwDone?: (o: StrategyOutcome) => void },
  ): void {
    const self = this as unknown as { redirect: (url: string) => void };
    const done = options.kgwDone;
    if (done) self.redirect = (url: string) => done({ kind: 'redirect', url });
    super.authenticate(req, options);
  }
}

type OpenIdClientPassportOptions = Parameters<InstanceType<typeof oidcPassport.Strategy>['authenticate']>[1];

function toOidcTokens(
  tokens: OpenIdClient.TokenEndpointResponse & OpenIdClient.TokenEndpointResponseHelpers,
  previousRefreshToken?: string,
): OidcTokens {
  const claims = (tokens.claims() ?? {}) as Record<string, unknown>;
  const exp =
    typeof claims.exp === 'number' ? claims.exp * 1000 : Date.now() + (tokens.expiresIn() ?? 300) * 1000;
  return {
    claims,
    idToken: tokens.id_token,
    refreshToken: tokens.refresh_token ?? previousRefreshToken,
    expiresAt: new Date(exp),
  };
}
