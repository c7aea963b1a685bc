// /kgw/metrics: the Prometheus metrics (gateway-metrics.ts) for gateway admins. Guards: what the
// metrics tell about traffic (which resources are used, how often, who fails to log in how
// often). Trusts: GatewayAuth to say who is an admin. Refuses: everyone else (401 without a
// credential, 403 for a non-admin); a scraper without an admin credential uses the separate
// listener (KGW_METRICS_PORT) instead.
import { Controller, Get, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { Registry } from 'prom-client';
import { GatewayError } from '../errors/gateway-error';
import { GatewayMetrics } from '../metrics/gateway-metrics';
import { Caller, KgwAuthGuard } from './kgw-auth.guard';
import type { AuthenticatedRequest } from '../identity/caller';

@Controller('kgw')
@UseGuards(KgwAuthGuard)
export class MetricsController {
  constructor(private readonly metrics: GatewayMetrics) {}

  @Get('metrics')
  async metricsText(@Caller() who: AuthenticatedRequest, @Res() res: Response): Promise<void> {
    if (!who.admin) throw new GatewayError('forbidden', 'only gateway admins may read the metrics');
    const text = await this.metrics.read();
    res.setHeader('Cache-Control', 'no-store');
    res.type(Registry.PROMETHEUS_CONTENT_TYPE).send(text);
  }
}
