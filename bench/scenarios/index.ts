// The bench modules `npm run bench` runs, in this order. To add one: write
// bench/scenarios/<name>.ts exporting a BenchScenario (see ../support/context.ts and
// docs/bench.md) and add it to this list.
import type { BenchScenario } from '../support/context';
import { auditOverheadBench } from './audit-overhead';
import { auditWriterBench } from './audit-writer';
import { portForwardBench } from './port-forward';
import { profileBench } from './profile';
import { proxyBench } from './proxy';

export const SCENARIOS: readonly BenchScenario[] = [
  proxyBench,
  auditOverheadBench,
  portForwardBench,
  auditWriterBench,
  profileBench,
];
