// What the forwarding steps need of the chain: where upstream is, how to keep streams alive, and
// the chain's one way to refuse and to finish (audit) an exchange.
import type * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Upstream } from '@kgw/kube';
import type { GatewayMetrics } from '../metrics/gateway-metrics';
import type { Refusal } from './chain-steps';
import type { Exchange } from './proxy-exchange';

export interface ForwardingChain {
  readonly upstream: Upstream;
  readonly streamKeepaliveMs: number;
  /**
   * How long a request that is not long-running may wait for the head of the API server's
   * answer (KGW_KUBE_RESPONSE_TIMEOUT_SECONDS): then a 504 Status. Undefined: no limit.
   */
  readonly responseTimeoutMs?: number;
  readonly logger: Logger;
  /** Upstream failures are counted here (kgw_upstream_errors_total). */
  readonly metrics?: Pick<GatewayMetrics, 'upstreamError'>;
  /** Answers with the refusal's Status; the audit record is written when the response closes. */
  refuse(res: http.ServerResponse, exchange: Exchange, refusal: Refusal): void;
  /** Answers on the raw socket and closes it; the audit record is written at once. */
  refuseUpgrade(socket: Duplex, exchange: Exchange, refusal: Refusal): void;
  /** Step 7: exactly one audit event per exchange. */
  finish(exchange: Exchange): void;
}
