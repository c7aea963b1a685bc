// The entry of the single-file CLI the gateway serves under /kgw/cli/kgw (scripts/build.mjs
// bundles this file and everything it imports into dist/cli/kgw.js).
import { main } from './main';

main();
