// A terminal in the browser: xterm.js over the Kubernetes WebSocket exec protocol (what
// `kubectl exec -it` does), through the gateway with the session cookie. Channel bytes: 0 stdin,
// 1 stdout, 2 stderr, 3 the final Status, 4 resize ({"Width","Height"}); v5 adds 255 = close.
import { useEffect, useRef, useState } from 'react';
import { Terminal as XTerm } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { csrfSubprotocols } from '../api';

const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const encoder = new TextEncoder();

function frame(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = channel;
  out.set(payload, 1);
  return out;
}

export function Terminal({ namespace, name, container }: { namespace: string; name: string; container: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [command, setCommand] = useState('sh');
  const [session, setSession] = useState(0);
  const [state, setState] = useState<'connecting' | 'open' | 'closed'>('connecting');
  const [closedWith, setClosedWith] = useState('');

  useEffect(() => {
    if (!host.current) return;
    const term = new XTerm({ cursorBlink: true, fontSize: 14, convertEol: false, scrollback: 5000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current);
    fit.fit();
    term.focus();
    const params = new URLSearchParams({ container, stdin: 'true', stdout: 'true', stderr: 'true', tty: 'true' });
    for (const word of command.trim().split(/\s+/)) params.append('command', word);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${location.host}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/exec?${params.toString()}`;
    const ws = new WebSocket(url, [...PROTOCOLS, ...csrfSubprotocols()]);
    ws.binaryType = 'arraybuffer';
    setState('connecting');
    setClosedWith('');
    let status = '';
    const sendResize = (): void => {
      if (ws.readyState === WebSocket.OPEN)
        ws.send(frame(4, encoder.encode(JSON.stringify({ Width: term.cols, Height: term.rows }))));
    };
    ws.onopen = () => {
      setState('open');
      sendResize();
    };
    ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (typeof event.data === 'string') return;
      const bytes = new Uint8Array(event.data);
      if (bytes.length === 0) return;
      const payload = bytes.subarray(1);
      if (bytes[0] === 1 || bytes[0] === 2) term.write(payload);
      else if (bytes[0] === 3 && payload.length > 0) {
        try {
          const s = JSON.parse(new TextDecoder().decode(payload)) as { status?: string; message?: string };
          status = s.status === 'Success' ? 'the command exited' : (s.message ?? 'the command failed');
        } catch {
          status = 'the command ended';
        }
      }
    };
    ws.onclose = (event) => {
      setState('closed');
      setClosedWith(status || (event.code === 1000 ? 'the session ended' : `the connection closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`));
    };
    const input = term.onData((data) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(frame(0, encoder.encode(data)));
    });
    const resized = term.onResize(sendResize);
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(host.current);
    return () => {
      observer.disconnect();
      input.dispose();
      resized.dispose();
      ws.close();
      term.dispose();
    };
  }, [namespace, name, container, session]); // the command applies from the next (re)connect

  return (
    <section aria-labelledby="term-h">
      <h2 id="term-h">
        Terminal <span className="muted">in {container}</span>
      </h2>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setSession((n) => n + 1);
        }}
      >
        <label htmlFor="term-cmd">Command</label>
        <input id="term-cmd" value={command} onChange={(e) => setCommand(e.target.value)} />
        <button type="submit">{state === 'closed' ? 'Reconnect' : 'Restart'}</button>
        <span role="status" aria-live="polite" className="muted" data-testid="term-state">
          {state === 'connecting' ? 'Connecting…' : state === 'open' ? 'Connected' : `Closed: ${closedWith}`}
        </span>
      </form>
      <div className="terminal" ref={host} data-testid="terminal" />
      <p className="muted">Like kubectl exec -it: keys go to the process, the window size follows this box.</p>
    </section>
  );
}
