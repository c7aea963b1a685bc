// Authentication's Nest side: login/logout and CLI login (/kgw/auth), personal tokens
// (/kgw/v1/tokens), /kgw/v1/me and /kgw/v1/kubeconfig. Absent AuthServices (a gateway built without a database
// for auth), none of these routes exist. Their dependencies come from RuntimeModule.
import { type DynamicModule, Module } from '@nestjs/common';
import { BrowserLoginController } from './browser-login.controller';
import { DeviceLoginController } from './cli-device-login.controller';
import { LoopbackLoginController } from './cli-loopback-login.controller';
import { LoginChecks } from './login-checks';
import { KubeconfigController } from './kubeconfig.controller';
import { MeController } from './me.controller';
import { TokensController } from './tokens.controller';

@Module({})
export class AuthModule {
  static forRoot(withAuthServices: boolean): DynamicModule {
    if (!withAuthServices) return { module: AuthModule };
    return {
      module: AuthModule,
      controllers: [
        BrowserLoginController,
        DeviceLoginController,
        LoopbackLoginController,
        TokensController,
        MeController,
        KubeconfigController,
      ],
      providers: [LoginChecks],
    };
  }
}
