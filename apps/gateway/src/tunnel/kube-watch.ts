// A watch against the API server as the caller (impersonated), through the one upstream client:
// the tunnels' EndpointSlice watches (service-endpoints.ts).
//
// Guards: the gateway process. The answer is read line by line with a bound on a line
// (MAX_EVENT_BYTES): a line that long, or one that is not JSON, ends the watch as failed.
import type { Identity, Upstream } from '@kgw/kube';
import { requestUpstream, withGatewayCredential, withImpersonation } from '@kgw/kube';
import type { KubeWatch, WatchEvent } from './service-endpoints';

const MAX_EVENT_BYTES = 4 * 1024 * 1024;

export function watchAs(upstream: Upstream, identity: Identity): KubeWatch {
  return (path, onEvent, onEnd) => {
    let ended = false;
    const end = (error?: Error) => {
      if (ended) return;
      ended = true;
      request.cancel();
      onEnd(error);
    };
    const request = requestUpstream(
      upstream,
      {
        method: 'GET',
        path,
        headers: withImpersonation(withGatewayCredential(upstream, { accept: 'application/json' }), identity),
      },
      {
        onResponse: (response) => {
          if (response.statusCode !== 200) {
            response.body.resume();
            return end(new Error(`the watch answered ${response.statusCode}`));
          }
          response.keepAlive(30_000);
          let partial = '';
          response.body.setEncoding('utf8');
          response.body.on('data', (text: string) => {
            partial += text;
            let newline: number;
            while (!ended && (newline = partial.indexOf('\n')) >= 0) {
              const line = partial.slice(0, newline);
              partial = partial.slice(newline + 1);
              if (line.trim() === '') continue;
              try {
                onEvent(JSON.parse(line) as WatchEvent);
              } catch {
                return end(new Error('the watch sent something that is not JSON'));
              }
            }
            if (partial.length > MAX_EVENT_BYTES) end(new Error('a watch event over 4 MiB'));
          });
          response.body.on('end', () => end());
          response.body.on('error', (error: Error) => end(error));
        },
        onError: (error) => end(error),
      },
    );
    return () => {
      ended = true;
      request.cancel();
    };
  };
}
