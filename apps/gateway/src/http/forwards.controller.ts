// /kgw/v1/forwards: the caller's open `kgw forward` tunnels and their streams (gateway admins:
// everyone's), for the web UI's Forwards page and `curl`.
//
// Guards: who forwards what from where. Trusts: KgwAuthGuard's caller, the tunnel registry.
// Refuses: nothing but an unauthenticated caller — a user is shown only tunnels opened under
// their own name, never another user's; `?user=` narrows an admin's list. No tunnel's resume
// secret is ever in an answer (TunnelView has none).
import { Controller, Get, Inject, Optional, Query, UseGuards } from '@nestjs/common';
import type { AuthenticatedRequest } from '../identity/caller';
import { ForwardTunnels, type TunnelView } from '../tunnel/forward-tunnels';
import { Caller, KgwAuthGuard } from './kgw-auth.guard';

@Controller('kgw/v1/forwards')
@UseGuards(KgwAuthGuard)
export class ForwardsController {
  constructor(@Optional() @Inject(ForwardTunnels) private readonly tunnels?: ForwardTunnels) {}

  @Get()
  list(
    @Caller() who: AuthenticatedRequest,
    @Query('user') user: unknown,
  ): { items: TunnelView[]; scope: 'own' | 'all' } {
    const named = typeof user === 'string' && user !== '' ? user : undefined;
    const owner = who.admin ? named : who.caller.name;
    const items = (this.tunnels?.list(owner) ?? []).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    return { items, scope: who.admin && !named ? 'all' : 'own' };
  }
}
