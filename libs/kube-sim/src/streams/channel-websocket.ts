// The Kubernetes channel protocol over WebSocket (`channel.k8s.io` family), as the kubelet's
// wsstream speaks it.
//
// Guards: message framing from an untrusted client. Each binary message is one channel byte then
// data; base64 protocols send text messages of one ASCII channel digit then base64. Messages are
// already size-capped by the `ws` server (maxPayload); an empty message, an unknown channel or bad
// base64 is ignored, not trusted. v5 adds one control message, [255, channel], which half-closes
// that channel (kubectl sends [255, 0] at stdin EOF).
import type { RawData, WebSocket } from 'ws';

export const CLOSE_SIGNAL_CHANNEL = 255;

export class ChannelWebSocket {
  readonly base64: boolean;
  readonly version: number;

  constructor(
    readonly ws: WebSocket,
    readonly protocol: string,
  ) {
    this.base64 = protocol.includes('base64');
    const match = /^v(\d+)\./.exec(protocol);
    this.version = match ? Number(match[1]) : 1;
  }

  onChannelData(
    listener: (channel: number, data: Buffer) => void,
    onCloseSignal?: (channel: number) => void,
  ): void {
    this.ws.on('message', (raw: RawData, isBinary: boolean) => {
      const message = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
      if (message.length === 0) return;
      if (!isBinary || this.base64) {
        const text = message.toString('latin1');
        const channel = text.charCodeAt(0) - 0x30;
        if (channel < 0 || channel > 9) return;
        listener(channel, Buffer.from(text.slice(1), 'base64'));
        return;
      }
      if (message[0] === CLOSE_SIGNAL_CHANNEL && this.version >= 5) {
        if (message.length >= 2) onCloseSignal?.(message[1]);
        return;
      }
      listener(message[0], message.subarray(1));
    });
  }

  /** Sends on a channel; the callback fires once `ws` handed the bytes to the socket. */
  send(channel: number, data: Buffer | string, callback?: (error?: Error) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      callback?.(new Error('WebSocket closed'));
      return;
    }
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.base64) {
      this.ws.send(`${String.fromCharCode(0x30 + channel)}${payload.toString('base64')}`, callback);
      return;
    }
    const message = Buffer.allocUnsafe(payload.length + 1);
    message[0] = channel;
    payload.copy(message, 1);
    this.ws.send(message, { binary: true }, callback);
  }

  close(code = 1000): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code);
  }
}
