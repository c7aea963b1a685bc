// The bench modules `npm run bench` runs, in this order. To add one: write
// bench/scenarios/<name>.ts exporting a BenchScenario (see ../support/context.ts and
// docs/bench.md) and add it to this list.
import type { BenchScenario } from '../support/context';
import { abBench } from './ab';
import { auditOverheadBench } from './audit-overhead';
import { auditWriterBench } from './audit-writer';
import { fixedRateBench } from './fixed-rate';
import { profileBench } from './profile';
import { proxyBench } from './proxy';
import { targetsBench } from './targets';
import { tunnelsBench } from './tunnels';
import { watchScaleBench } from './watch-scale';

export const SCENARIOS: readonly BenchScenario[] = [
  proxyBench,
  fixedRateBench,
  auditOverheadBench,
  tunnelsBench,
  auditWriterBench,
  watchScaleBench,
  // Keep last among the default modules: it checks the targets on what the others measured.
  targetsBench,
  profileBench,
  abBench,
];
