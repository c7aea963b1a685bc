// The ESM-only packages of authentication (jose, openid-client, oidc-provider), loaded in one
// place. The gateway compiles to CommonJS (module node16); Node ≥ 20.19 can require() an ES
// module that has no top-level await, which these do not, and Jest transforms them (see
// jest.shared.js). `import type … with { 'resolution-mode': 'import' }` gives the types without
// tsc turning the import into a require of the wrong flavour.
import type * as Jose from 'jose' with { 'resolution-mode': 'import' };
import type * as OpenIdClient from 'openid-client' with { 'resolution-mode': 'import' };
import type * as OpenIdClientPassport from 'openid-client/passport' with { 'resolution-mode': 'import' };

/* eslint-disable @typescript-eslint/no-require-imports -- require(esm), see above */
export const jose = require('jose') as typeof Jose;
export const oidcClient = require('openid-client') as typeof OpenIdClient;
export const oidcPassport = require('openid-client/passport') as typeof OpenIdClientPassport;
/* eslint-enable @typescript-eslint/no-require-imports */

export type { Jose, OpenIdClient, OpenIdClientPassport };
