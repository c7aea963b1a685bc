// HTTPS from certificate files, reloaded on change without dropping connections: a certificate
// swapped on disk the way the kubelet updates a mounted Secret (write aside, then rename) is
// served to the next connection, while a connection opened before the swap keeps working.
import { renameSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createPki } from '@kgw/kube-sim';
import { CALLERS, startGatewayStack, type GatewayStack } from '../support/gateway-stack';

interface Answer {
  status: number;
  fingerprint: string;
  reused: boolean;
}

function get(stack: GatewayStack, agent: https.Agent, ca: string[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      `${stack.url}/api/v1/namespaces/default/pods`,
      { agent, ca, headers: { authorization: `Bearer ${CALLERS.alice.token}` } },
      (res) => {
        // Read before the body ends: a kept-alive socket then goes back to the agent.
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint, reused: req.reusedSocket }));
      },
    );
    req.on('error', reject);
  });
}

describe('TLS certificate reload', () => {
  let stack: GatewayStack;
  let nextCa = '';
  beforeAll(async () => {
    stack = await startGatewayStack();
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('serves a certificate swapped on disk to the next connection, and an open connection keeps working', async () => {
    const next = await createPki(['localhost'], ['127.0.0.1']);
    nextCa = next.ca.certPem;
    const trust = [stack.caPem, next.ca.certPem];
    const kept = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await get(stack, kept, trust);
      expect(before.status).toBe(200);

      // As the kubelet does: the new files appear whole, by rename.
      writeFileSync(join(stack.dir, 'tls.key.new'), next.serving.keyPem);
      writeFileSync(join(stack.dir, 'tls.crt.new'), next.serving.certPem);
      renameSync(join(stack.dir, 'tls.key.new'), join(stack.dir, 'tls.key'));
      renameSync(join(stack.dir, 'tls.crt.new'), join(stack.dir, 'tls.crt'));
      // The gateway says when it has the new pair (it checks the files once a second).
      for (let i = 0; i < 200 && !stack.logLines().some((l) => l.includes('TLS certificate reloaded')); i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(stack.logLines().some((l) => l.includes('TLS certificate reloaded'))).toBe(true);

      const fresh = new https.Agent({ keepAlive: false });
      const after = await get(stack, fresh, [next.ca.certPem]);
      expect(after.status).toBe(200);
      expect(after.fingerprint).not.toBe(before.fingerprint);
      fresh.destroy();

      // The connection made before the swap: still open, still the old certificate, still served.
      const again = await get(stack, kept, trust);
      expect(again).toEqual({ status: 200, fingerprint: before.fingerprint, reused: true });
    } finally {
      kept.destroy();
    }
  });

  it('keeps the previous certificate when the new files do not load', async () => {
    const lines = stack.logLines().length;
    writeFileSync(join(stack.dir, 'tls.crt.new'), 'not a certificate');
    renameSync(join(stack.dir, 'tls.crt.new'), join(stack.dir, 'tls.crt'));
    for (
      let i = 0;
      i < 200 &&
      !stack
        .logLines()
        .slice(lines)
        .some((l) => l.includes('do not load'));
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    expect(
      stack
        .logLines()
        .slice(lines)
        .some((l) => l.includes('do not load')),
    ).toBe(true);
    const agent = new https.Agent({ keepAlive: false });
    try {
      // Still the last good pair (the one swapped in by the test above).
      expect((await get(stack, agent, [nextCa])).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });
});
