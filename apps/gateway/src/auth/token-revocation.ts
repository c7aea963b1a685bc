// Carries personal-token revocations to every replica within a second: Postgres LISTEN/NOTIFY
// (ChannelListener). A revocation evicts the token from the authenticator's cache and cuts the
// token's open streams.
//
// Guards: that a revoked token stops working on replicas other than the one that revoked it.
// Trusts: Postgres to deliver NOTIFY to every listening session after commit. When the
// listening connection is lost, replicas cannot hear revocations: the authenticator's cache is
// dropped and bypassed until the listener is back (every request reads the database then).
import type { Logger } from 'pino';
import { ChannelListener } from '@kgw/db';
import { REVOCATION_CHANNEL } from './personal-tokens';

export interface RevocationListenerOptions {
  url: string;
  logger: Logger;
  /** Called for every revoked token id, including ones revoked on this replica. */
  onRevoked(tokenId: string): void;
  /** Called with false when revocations can no longer be heard, true when they can again. */
  onListening(listening: boolean): void;
  retryMs?: number;
}

export function tokenRevocationListener(options: RevocationListenerOptions): ChannelListener {
  return new ChannelListener({
    url: options.url,
    channel: REVOCATION_CHANNEL,
    onNotification: options.onRevoked,
    onListening: options.onListening,
    onProblem: (message) => options.logger.warn(`token revocation listener ${message}`),
    retryMs: options.retryMs,
  });
}
