// The values the gateway builds before Nest starts (config, database, who may call, the audit
// sink, client addresses, readiness checks, the auth services), registered once for every
// module: a global module, so feature modules only declare their own routes and providers.
import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import { Database } from '@kgw/db';
import { AUDIT_SINK } from '../audit/audit-sink';
import { AuthServices } from '../auth/auth-services';
import { GatewayAuth } from '../auth/gateway-auth';
import type { GatewayServices } from '../gateway-services';
import { READINESS_CHECKS, type ReadinessCheckFn } from '../health/readiness';
import { GatewayMetrics } from '../metrics/gateway-metrics';
import { GatewayEndpoint } from '../connect/gateway-endpoint';
import { ClientAddressResolver } from '../proxy/client-address';
import { KgwAuthGuard } from './kgw-auth.guard';

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');

/** What the gateway builds before Nest starts (config, database, logger) and hands to its modules. */
export interface GatewayRuntime {
  config: GatewayConfig;
  db: Database;
  logger: Logger;
  services: GatewayServices;
  readinessChecks: ReadinessCheckFn[];
}

@Global()
@Module({})
export class RuntimeModule {
  static forRoot(runtime: GatewayRuntime): DynamicModule {
    const providers = [
      { provide: GATEWAY_CONFIG, useValue: runtime.config },
      { provide: Database, useValue: runtime.db },
      { provide: READINESS_CHECKS, useValue: runtime.readinessChecks },
      { provide: GatewayAuth, useValue: runtime.services.auth },
      { provide: AUDIT_SINK, useValue: runtime.services.audit },
      { provide: ClientAddressResolver, useValue: runtime.services.clientAddress },
      { provide: GatewayMetrics, useValue: runtime.services.metrics },
      { provide: GatewayEndpoint, useValue: runtime.services.endpoint },
      // Absent when the gateway runs without a database for auth (then AuthModule has no routes).
      ...(runtime.services.authn ? [{ provide: AuthServices, useValue: runtime.services.authn }] : []),
      KgwAuthGuard,
    ];
    return {
      module: RuntimeModule,
      providers,
      exports: providers.map((p) => ('provide' in p ? p.provide : p)),
    };
  }
}
