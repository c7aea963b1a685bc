// The audit feature's routes. The writer itself is built with the other gateway services (the
// proxy chain records into it before Nest exists); this module reads what it wrote.
import { type DynamicModule, Module } from '@nestjs/common';
import type { Database } from '@kgw/db';
import { GatewayAuth } from '../auth/gateway-auth';
import { KgwAuthGuard } from '../auth/kgw-auth.guard';
import type { AuditSink } from './audit-sink';
import { AuditStore } from './audit-store';
import { AUDIT_FEED, AuditController } from './audit.controller';
import type { AuditFeed } from './postgres-audit-writer';

export interface AuditModuleDeps {
  db: Database;
  auth: GatewayAuth;
  audit: AuditSink;
}

@Module({})
export class AuditModule {
  static forRoot(deps: AuditModuleDeps): DynamicModule {
    return {
      module: AuditModule,
      controllers: [AuditController],
      providers: [
        { provide: AuditStore, useValue: new AuditStore(deps.db.pool) },
        { provide: AUDIT_FEED, useValue: isAuditFeed(deps.audit) ? deps.audit : null },
        { provide: GatewayAuth, useValue: deps.auth },
        KgwAuthGuard,
      ],
    };
  }
}

function isAuditFeed(sink: AuditSink): sink is AuditSink & AuditFeed {
  return typeof (sink as Partial<AuditFeed>).subscribe === 'function';
}
