// Liveness and readiness. Guards: what an anonymous caller learns about the deployment. Trusts:
// GatewayAuth to say who is an admin. Refuses: details to anyone else — a probe needs only
// ready / not ready (and which check failed); the upstream address, the migration version and
// the audit instance with the pod it runs as (Downward API: namespace, IP, node) are for gateway
// admins (a load balancer probe sends no credential, and a
// wrong one is no reason to fail readiness, so readiness never answers 401).
import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { GatewayConfig } from '@kgw/config';
import { Database } from '@kgw/db';
import { AUDIT_SINK, type AuditSink } from '../audit/audit-sink';
import { GatewayAuth } from '../auth/gateway-auth';
import { GATEWAY_CONFIG } from './runtime.module';
import { READINESS_CHECKS, type ReadinessCheckFn } from '../health/readiness';

@Controller('kgw')
export class HealthController {
  constructor(
    private readonly db: Database,
    private readonly auth: GatewayAuth,
    @Inject(READINESS_CHECKS) private readonly extraChecks: ReadinessCheckFn[],
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  /** Liveness: the process is up and serving; nothing else is consulted. */
  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: the database is reachable and migrated (and every registered upstream check passes). */
  @Get('readyz')
  async readyz(@Req() req: Request, @Res() res: Response): Promise<void> {
    const checks: Record<string, { ok: boolean; detail: string }> = { database: await this.db.check() };
    for (const check of this.extraChecks) {
      const [name, result] = await check();
      checks[name] = result;
    }
    const ok = Object.values(checks).every((c) => c.ok);
    const status = ok ? 'ready' : 'not ready';
    res.setHeader('Cache-Control', 'no-store');
    if (await this.isAdmin(req))
      return void res.status(ok ? 200 : 503).json({ status, checks, instance: this.instance() });
    const bare = Object.fromEntries(Object.entries(checks).map(([name, c]) => [name, { ok: c.ok }]));
    res.status(ok ? 200 : 503).json({ status, checks: bare });
  }

  /** Which gateway answered: its audit instance and, in a cluster, the pod behind it. */
  private instance(): { name: string; namespace?: string; ip?: string; node?: string } {
    return { name: this.audit.instance, ...this.config.pod };
  }

  private async isAdmin(req: Request): Promise<boolean> {
    if (!req.headers.authorization && !req.headers.cookie) return false;
    const result = await this.auth.authenticate(req);
    return result.ok && result.admin;
  }
}
