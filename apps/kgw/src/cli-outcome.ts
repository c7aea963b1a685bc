// What every part of the `kgw` CLI shares, commands and the forward tunnel client alike: its
// input/output, the exit codes, and the error type that ends a command with a message and a code.

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

/**
 * Exit codes, one per kind of failure, so scripts can tell them apart. Documented in
 * `kgw --help` and docs/cli.md; never renumber one.
 */
export const ExitCode = {
  Ok: 0,
  /** Anything not listed below (the gateway refused, a check failed, ...). */
  Failure: 1,
  /** Bad command line: unknown command or option, missing or malformed value. */
  Usage: 2,
  /** No saved login and no --server/--token (or the token was rejected: 401). */
  NotLoggedIn: 3,
  /** The gateway could not be reached (DNS, refused, TLS, timeout). */
  Unreachable: 4,
  /** The gateway or Kubernetes refused the action (403); the message names the permission. */
  Forbidden: 5,
  /** The named object (pod, service, ...) does not exist. */
  NotFound: 6,
  /** The target exists but has no ready pod to connect to. */
  NoReadyPod: 7,
  /** A local port to listen on is taken. */
  PortInUse: 8,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `Exit codes:
  0 ok   1 failure   2 usage   3 not logged in   4 gateway unreachable
  5 forbidden   6 not found   7 no ready pod   8 local port in use`;

/** Thrown by an action: printed as `kgw <command>: <message>`, then the process exits with `exitCode`. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.Failure,
  ) {
    super(message);
  }
}
