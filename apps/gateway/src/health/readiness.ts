export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
export type ReadinessCheckFn = () => Promise<[string, { ok: boolean; detail: string }]>;
