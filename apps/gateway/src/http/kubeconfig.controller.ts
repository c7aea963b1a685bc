// /kgw/v1/kubeconfig: a kubeconfig for this gateway, for the signed-in caller. The server is the
// gateway's public URL with its CA when one is configured (gateway-endpoint.ts); the credential
// is chosen by the caller:
//   GET  — the `kgw credential` exec plugin: no secret in the file; kubectl asks the kgw CLI,
//          which holds the user's `kgw login`.
//   POST {"credential": "token", …token fields} — a new personal token written into the file.
//   GET ca.crt — the CA alone, for curl and `kgw login --ca`.
// Both kubeconfig answers are the YAML file (a download), or with Accept: application/json
// {context, kubeconfig, token?} for the web UI.
//          A POST because it creates a credential: a session needs its CSRF token for it, so a
//          cross-site link cannot mint tokens in a user's name.
//
// Guards: token issuance (as /kgw/v1/tokens: token-issuance.ts). Trusts: KgwAuthGuard's caller,
// the configured URL and CA. Refuses: a namespace or context name that is not a Kubernetes name
// (they land in a YAML file a user runs kubectl with), an unknown credential kind.
import { Body, Controller, Get, HttpCode, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { stringify as toYaml } from 'yaml';
import { kubeconfigContextName, mergeGatewayKubeconfig, type KubeconfigCredential } from '@kgw/kube';
import { AuthServices } from '../auth/auth-services';
import { GatewayEndpoint } from '../connect/gateway-endpoint';
import { GatewayError } from '../errors/gateway-error';
import type { AuthenticatedRequest } from '../identity/caller';
import { CLI_FILE_NAME, CLI_PATH } from '../cli/cli-download';
import { Caller, KgwAuthGuard } from './kgw-auth.guard';
import { wantsJson } from './login-page';
import { issuePersonalToken } from './token-issuance';

/** A DNS-1123 label (namespaces) — at most 63 characters. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Context names: what kubectl users type; no spaces, quotes or YAML specials. */
const CONTEXT = /^[A-Za-z0-9]([-A-Za-z0-9_.@:]{0,61}[A-Za-z0-9])?$/;
/** Days a kubeconfig's token lives when the caller does not say (the session may cut it). */
const DEFAULT_TOKEN_DAYS = 30;

function optionalName(value: unknown, pattern: RegExp, what: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !pattern.test(value))
    throw new GatewayError('bad_request', `${what} must be a Kubernetes name (letters, digits and -).`);
  return value;
}

@Controller('kgw/v1/kubeconfig')
@UseGuards(KgwAuthGuard)
export class KubeconfigController {
  constructor(
    private readonly authn: AuthServices,
    private readonly endpoint: GatewayEndpoint,
  ) {}

  @Get()
  withExecPlugin(
    @Req() req: Request,
    @Res() res: Response,
    @Caller() who: AuthenticatedRequest,
    @Query('namespace') namespace: unknown,
    @Query('context') context: unknown,
    @Query('credential') credential: unknown,
  ): void {
    if (credential !== undefined && credential !== 'exec')
      throw new GatewayError(
        'bad_request',
        'GET gives the exec-plugin kubeconfig; POST {"credential":"token"} makes one with a new personal token.',
      );
    const origin = this.endpoint.url();
    this.send(
      res,
      who,
      namespace,
      context,
      {
        exec: {
          command: CLI_FILE_NAME,
          installHint:
            `kubectl runs "kgw credential" for this gateway: install the kgw CLI from ${origin}${CLI_PATH} ` +
            `and run "kgw login ${origin}" once.`,
        },
      },
      undefined,
      wantsJson(req),
    );
  }

  /** The CA alone (for curl --cacert and kgw login --ca); 404 when users need none. */
  @Get('ca.crt')
  ca(@Res() res: Response): void {
    const pem = this.endpoint.caPem();
    if (!pem)
      throw new GatewayError(
        'not_found',
        "No CA is configured: the gateway's certificate is meant to be trusted as it is.",
      );
    res.setHeader('Content-Type', 'application/x-pem-file');
    res.setHeader('Content-Disposition', 'attachment; filename="kgw-ca.crt"');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.send(pem);
  }

  @Post()
  @HttpCode(200)
  async withToken(
    @Req() req: Request,
    @Res() res: Response,
    @Caller() who: AuthenticatedRequest,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    if (body?.credential !== 'token')
      throw new GatewayError(
        'bad_request',
        'POST /kgw/v1/kubeconfig makes a token kubeconfig: send {"credential":"token"}.',
      );
    // Checked before a token exists: a refused name must not leave an orphan token behind.
    const namespace = optionalName(body.namespace, NAMESPACE, 'namespace');
    const context = optionalName(body.context, CONTEXT, 'context');
    const { token, view } = await issuePersonalToken(this.authn, req, who, {
      name: `kubeconfig ${new Date().toISOString().slice(0, 10)}`,
      expiresInDays: DEFAULT_TOKEN_DAYS,
      ...body,
    });
    this.send(res, who, namespace, context, { token }, view, wantsJson(req));
  }

  private send(
    res: Response,
    who: AuthenticatedRequest,
    namespaceValue: unknown,
    contextValue: unknown,
    credential: KubeconfigCredential,
    token?: Record<string, unknown>,
    asJson = false,
  ): void {
    const server = this.endpoint.url();
    const name = optionalName(contextValue, CONTEXT, 'context') ?? kubeconfigContextName(server);
    const namespace =
      optionalName(namespaceValue, NAMESPACE, 'namespace') ?? who.identity.serviceAccount?.split(':')[2];
    const yaml = toYaml(
      mergeGatewayKubeconfig(undefined, {
        server,
        caPem: this.endpoint.caPem(),
        credential,
        name,
        namespace,
      }),
    );
    res.setHeader('Cache-Control', 'no-store');
    if (asJson) return void res.json({ context: name, kubeconfig: yaml, token });
    res.setHeader('Content-Type', 'application/yaml; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="kubeconfig-${name}"`);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.send(yaml);
  }
}
