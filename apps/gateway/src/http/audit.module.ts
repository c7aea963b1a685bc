// The audit feature's routes. The writer itself is built with the other gateway services (the
// proxy chain records into it before Nest exists); this module reads what it wrote.
import { type DynamicModule, Module } from '@nestjs/common';
import type { Database } from '@kgw/db';
import type { AuditSink } from '../audit/audit-sink';
import { AuditStore } from '../audit/audit-store';
import { AUDIT_FEED, AuditController } from './audit.controller';
import type { AuditFeed } from '../audit/postgres-audit-writer';

@Module({})
export class AuditModule {
  static forRoot(db: Database, audit: AuditSink): DynamicModule {
    return {
      module: AuditModule,
      controllers: [AuditController],
      providers: [
        { provide: AuditStore, useValue: new AuditStore(db.pool) },
        { provide: AUDIT_FEED, useValue: isAuditFeed(audit) ? audit : null },
      ],
    };
  }
}

function isAuditFeed(sink: AuditSink): sink is AuditSink & AuditFeed {
  return typeof (sink as Partial<AuditFeed>).subscribe === 'function';
}
