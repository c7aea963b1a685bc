// SIGTERM/SIGINT handling shared by a single gateway and the primary of a multi-process one:
// the first signal starts a graceful shutdown, a second one exits at once.
//
// A single Ctrl-C often arrives twice: the terminal sends SIGINT to the whole process group,
// and a parent that relays signals (npm start's scripts/start.mjs, a shell wrapper) sends it
// again. Taken as "again", it skipped the drain and the audit flush. So a repeat of the same
// signal within a second is the same request; a different signal, or one a second later, is the
// impatient operator.
const SAME_SIGNAL_WINDOW_MS = 1000;

export function onShutdownSignals(handlers: {
  first: (signal: NodeJS.Signals) => void;
  again: (signal: NodeJS.Signals) => void;
}): void {
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    const now = Date.now();
    if (!first) {
      first = { signal, at: now };
      handlers.first(signal);
      return;
    }
    if (signal === first.signal && now - first.at < SAME_SIGNAL_WINDOW_MS) return;
    handlers.again(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
