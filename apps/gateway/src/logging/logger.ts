// The one pino logger. Redaction lives here, in the logger itself, so no call site can leak a
// credential by forgetting: Authorization, cookies, Set-Cookie and any field named like a token
// or password are censored wherever they appear in a log object.
import { Writable } from 'node:stream';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { GatewayConfig } from '@kgw/config';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  ...[
    'authorization',
    'cookie',
    'token',
    'password',
    'secret',
    'clientSecret',
    'accessToken',
    'refreshToken',
    'idToken',
  ].flatMap((field) => [field, `*.${field}`]),
];

export function createLogger(config: GatewayConfig['log'], destination?: DestinationStream): Logger {
  const human = config.format === 'pretty' || (config.format === 'auto' && process.stdout.isTTY === true);
  return pino(
    {
      level: config.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination ?? (human ? humanReadable(process.stdout) : pino.destination({ fd: 1, sync: false })),
  );
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** One short line per record for a terminal; the JSON has already been redacted by pino. */
function humanReadable(out: NodeJS.WritableStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        const {
          level,
          time,
          msg,
          pid: _pid,
          hostname: _host,
          ...rest
        } = JSON.parse(chunk.toString()) as Record<string, unknown>;
        const when = typeof time === 'string' ? time.slice(11, 23) : '';
        const extra = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        out.write(
          `${when} ${LEVELS[level as number] ?? level} ${typeof msg === 'string' ? msg : JSON.stringify(msg ?? '')}${extra ? `  ${extra}` : ''}\n`,
        );
      } catch {
        out.write(chunk);
      }
      done();
    },
  });
}
