// The gateway's HTTP layer for its own routes (/kgw/...): the runtime values registered once
// (RuntimeModule), the feature modules' routes, the web UI's files, and the request logger.
import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { assignRequestId } from '../logging/request-id';
import { redactQuery } from '../logging/query-redaction';
import { AuditModule } from './audit.module';
import { AuthModule } from './auth.module';
import { CliDownloadModule } from './cli-download.module';
import { ForwardsModule } from './forwards.module';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { RuntimeModule, type GatewayRuntime } from './runtime.module';
import { UiModule } from './ui.module';

@Module({})
export class AppModule {
  static forRoot(runtime: GatewayRuntime): DynamicModule {
    return {
      module: AppModule,
      imports: [
        RuntimeModule.forRoot(runtime),
        AuditModule.forRoot(runtime.db, runtime.services.audit),
        AuthModule.forRoot(runtime.services.authn !== undefined),
        UiModule.forRoot(),
        CliDownloadModule.forRoot(),
        ForwardsModule.forRoot(runtime.services.forward),
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
      controllers: [HealthController, MetricsController],
    };
  }
}

function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?${redactQuery(url.slice(q + 1))}`;
}
