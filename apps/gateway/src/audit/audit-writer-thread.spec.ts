import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import type { AuditEvent } from './audit-event';
import { AuditWriterThread, type AuditWriterThreadOptions } from './audit-writer-thread';

/**
 * A stand-in writer thread speaking the real protocol: ready at once; counts records; on
 * "close" reports a chain head; with `dieOnRecords` it exits as a crashed thread would.
 */
function standIn(behaviour: { dieOnRecords: boolean }): Worker {
  return new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    let received = 0;
    parentPort.on('message', (m) => {
      if (m.type === 'records') {
        if (workerData.dieOnRecords) process.exit(3);
        received += m.events.length;
        parentPort.postMessage({ type: 'status', accepting: received < 5, pending: received });
      }
      if (m.type === 'close')
        parentPort.postMessage({ type: 'closed', head: { seq: 41, hash: 'a'.repeat(64) }, lost: 0 });
    });
    parentPort.postMessage({ type: 'log', line: JSON.stringify({ level: 30, msg: 'spool replayed' }) });
    parentPort.postMessage({ type: 'ready' });
    `,
    { eval: true, workerData: behaviour },
  );
}

function event(n: number): AuditEvent {
  return {
    time: new Date(1_700_000_000_000 + n),
    requestId: `req-${n}`,
    instance: 'ignored',
    kubeGroups: [],
    path: '/api/v1/pods',
    code: 200,
    decision: 'allow',
    latencyMs: 1,
    bytesIn: 0,
    bytesOut: 1,
  };
}

describe('AuditWriterThread', () => {
  let dir: string;
  const logger = pino({ level: 'silent' });
  const options = (): AuditWriterThreadOptions => ({
    instance: 'gw-0',
    databaseUrl: 'postgres://unused',
    spoolDir: join(dir, 'spool'),
    flushIntervalMs: 10,
    batchSize: 10,
    queueMax: 100,
    retryIntervalMs: 10,
    writeTimeoutMs: 100,
    log: { level: 'silent', format: 'json' },
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kgw-audit-thread-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("opens past the writer's log records, relaying them through the gateway's logger", async () => {
    const lines: string[] = [];
    const capturing = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const thread = await AuditWriterThread.open(options(), capturing, standIn({ dieOnRecords: false }));
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['spool replayed']);
    await thread.close();
  });

  it('fails closed (accepting() false, so the proxy answers 503) when the thread dies', async () => {
    const lines: string[] = [];
    const capturing = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const thread = await AuditWriterThread.open(options(), capturing, standIn({ dieOnRecords: true }));
    expect(thread.accepting()).toBe(true);
    const exited = new Promise((done) => (thread as unknown as { worker: Worker }).worker.once('exit', done));
    thread.record(event(1));
    await exited;
    expect(thread.accepting()).toBe(false);
    // An exchange that was under way still ends: its record cannot be kept, and that is said.
    thread.record(event(2));
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.some((l) => l.includes('audit records lost') && l.includes('req-2'))).toBe(true);
    await thread.close();
  });

  it("mirrors the thread's answer: refuses once the writer says it cannot keep more", async () => {
    const thread = await AuditWriterThread.open(options(), logger, standIn({ dieOnRecords: false }));
    for (let n = 0; n < 6; n++) thread.record(event(n));
    const worker = (thread as unknown as { worker: Worker }).worker;
    await new Promise((done) => worker.once('message', done));
    expect(thread.accepting()).toBe(false);
    await thread.close();
  });

  it('after close, chains records on from the head the thread reported and spools them at once', async () => {
    const thread = await AuditWriterThread.open(options(), logger, standIn({ dieOnRecords: false }));
    await thread.close();
    thread.record(event(7));
    const [segment] = readdirSync(join(dir, 'spool'));
    const spooled = JSON.parse(readFileSync(join(dir, 'spool', segment), 'utf8').trim()) as {
      seq: number;
      prevHash: string;
      instance: string;
      requestId: string;
    };
    expect(spooled).toMatchObject({
      seq: 42,
      prevHash: 'a'.repeat(64),
      instance: 'gw-0',
      requestId: 'req-7',
    });
  });
});
