// Authentication's Nest side: login/logout and CLI login (/kgw/auth), personal tokens
// (/kgw/v1/tokens) and /kgw/v1/me. Absent AuthServices (a gateway built without a database
// for auth), none of these routes exist.
import { type DynamicModule, Module } from '@nestjs/common';
import { AuthServices } from './auth-services';
import { GatewayAuth } from './gateway-auth';
import { KgwAuthGuard } from './kgw-auth.guard';
import { BrowserLoginController } from './browser-login.controller';
import { DeviceLoginController } from './cli-device-login.controller';
import { LoopbackLoginController } from './cli-loopback-login.controller';
import { LoginChecks } from './login-checks';
import { MeController } from './me.controller';
import { TokensController } from './tokens.controller';

@Module({})
export class AuthModule {
  static forRoot(deps: { authn?: AuthServices; auth: GatewayAuth }): DynamicModule {
    if (!deps.authn) return { module: AuthModule };
    return {
      module: AuthModule,
      controllers: [
        BrowserLoginController,
        DeviceLoginController,
        LoopbackLoginController,
        TokensController,
        MeController,
      ],
      providers: [
        { provide: AuthServices, useValue: deps.authn },
        { provide: GatewayAuth, useValue: deps.auth },
        KgwAuthGuard,
        LoginChecks,
      ],
    };
  }
}
