// What a tunnel target resolves to (a pod, its IP and the port to reach), how resolving fails
// (a TargetError carries the reset code the stream gets), and how targets read the API server.
import type { ResetCodeValue } from '@kgw/tunnel';

export interface PodEndpoint {
  pod: string;
  ip: string;
  port: number;
}

export class TargetError extends Error {
  constructor(
    readonly code: ResetCodeValue,
    message: string,
  ) {
    super(message);
  }
}

/** A GET against the API server as the caller. */
export type KubeRead = (path: string) => Promise<{ status: number; body: unknown }>;
