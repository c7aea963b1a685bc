// The /kgw/ routes (Nest on express) for HTTP/2 requests.
//
// Express gives every request its own prototype chain — `Object.setPrototypeOf(req,
// app.request)`, built on http.IncomingMessage — at the start of `app.handle`. Node's HTTP/2
// compatibility request keeps its state behind getters on Http2ServerRequest.prototype
// (headers, url, method, socket, _read), which that swap would hide: `req.headers` would read
// undefined. So HTTP/2 requests get a second pair of prototypes, express's own methods over
// Http2ServerRequest/Http2ServerResponse, and express is handed that pair for the one
// synchronous call in which it reads them. The Kubernetes proxy chain takes the compatibility
// objects directly and never goes through express.
import { Http2ServerResponse, type Http2ServerResponse as H2Response } from 'node:http2';
import type { Express } from 'express';
import { GatewayHttp2Request } from './http2-clients';

export function expressForHttp2(app: Express): (req: GatewayHttp2Request, res: H2Response) => void {
  const http1 = { request: app.request, response: app.response };
  const http2 = {
    request: rebase(app.request, GatewayHttp2Request.prototype),
    response: rebase(app.response, Http2ServerResponse.prototype),
  };
  return (req, res) => {
    // express reads the host (req.hostname, redirects) from Host; HTTP/2 sends :authority.
    req.headers.host ??= req.authority;
    app.request = http2.request as Express['request'];
    app.response = http2.response as Express['response'];
    try {
      app(req as never, res as never);
    } finally {
      app.request = http1.request;
      app.response = http1.response;
    }
  };
}

/** `appProto` (app.request: express's methods + `app`) re-parented from http.* onto `base`. */
function rebase(appProto: object, base: object): object {
  const expressMethods = Object.getPrototypeOf(appProto) as object;
  const onBase = Object.create(base, Object.getOwnPropertyDescriptors(expressMethods)) as object;
  return Object.create(onBase, Object.getOwnPropertyDescriptors(appProto)) as object;
}
