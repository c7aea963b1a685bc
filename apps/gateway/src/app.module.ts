import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';
import { Database } from '@kgw/db';
import { HealthController } from './health/health.controller';
import { READINESS_CHECKS, type ReadinessCheckFn } from './health/readiness';
import { assignRequestId } from './logging/request-id';
import { AUDIT_SINK } from './audit/audit-sink';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { redactQuery } from './audit/audit-sink';
import { GatewayAuth } from './auth/gateway-auth';
import { KgwAuthGuard } from './auth/kgw-auth.guard';
import type { GatewayServices } from './gateway-services';
import { ClientAddressResolver } from './proxy/client-address';

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');

/** What the gateway builds before Nest starts (config, database, logger) and hands to its modules. */
export interface GatewayRuntime {
  config: GatewayConfig;
  db: Database;
  logger: Logger;
  services: GatewayServices;
  readinessChecks: ReadinessCheckFn[];
}

@Module({})
export class AppModule {
  static forRoot(runtime: GatewayRuntime): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AuditModule.forRoot({ db: runtime.db, auth: runtime.services.auth, audit: runtime.services.audit }),
        AuthModule.forRoot({ authn: runtime.services.authn, auth: runtime.services.auth }),
        LoggerModule.forRoot({
          pinoHttp: {
            logger: runtime.logger,
            genReqId: (req, res) => assignRequestId(req, res),
            customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
            // Only what we need: method, path, status. Headers would carry credentials.
            serializers: {
              req: (req: { id: string; method: string; url: string }) => ({
                id: req.id,
                method: req.method,
                // Query strings can carry OAuth codes and states (/kgw/auth/callback): redacted.
                url: redactUrl(req.url),
              }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            },
          },
        }),
      ],
      controllers: [HealthController],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: runtime.config },
        { provide: Database, useValue: runtime.db },
        { provide: READINESS_CHECKS, useValue: runtime.readinessChecks },
        { provide: GatewayAuth, useValue: runtime.services.auth },
        { provide: AUDIT_SINK, useValue: runtime.services.audit },
        { provide: ClientAddressResolver, useValue: runtime.services.clientAddress },
        KgwAuthGuard,
      ],
    };
  }
}

function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?${redactQuery(url.slice(q + 1))}`;
}
