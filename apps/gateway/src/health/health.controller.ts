import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Database } from '@kgw/db';
import { READINESS_CHECKS, type ReadinessCheckFn } from './readiness';

@Controller('kgw')
export class HealthController {
  constructor(
    private readonly db: Database,
    @Inject(READINESS_CHECKS) private readonly extraChecks: ReadinessCheckFn[],
  ) {}

  /** Liveness: the process is up and serving; nothing else is consulted. */
  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: the database is reachable and migrated (and every registered upstream check passes). */
  @Get('readyz')
  async readyz(@Res() res: Response): Promise<void> {
    const checks: Record<string, { ok: boolean; detail: string }> = { database: await this.db.check() };
    for (const check of this.extraChecks) {
      const [name, result] = await check();
      checks[name] = result;
    }
    const ok = Object.values(checks).every((c) => c.ok);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready', checks });
  }
}
