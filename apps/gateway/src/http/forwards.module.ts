// The tunnels list (/kgw/v1/forwards); the tunnels themselves are WebSockets outside Nest
// (forward-tunnels.ts). Without an upstream there are no tunnels: the list is empty.
import { type DynamicModule, Module } from '@nestjs/common';
import { ForwardTunnels } from '../tunnel/forward-tunnels';
import { ForwardsController } from './forwards.controller';

@Module({})
export class ForwardsModule {
  static forRoot(tunnels: ForwardTunnels | undefined): DynamicModule {
    return {
      module: ForwardsModule,
      controllers: [ForwardsController],
      providers: tunnels ? [{ provide: ForwardTunnels, useValue: tunnels }] : [],
    };
  }
}
