// @kgw/tunnel: the kgw tunnel wire protocol (README.md), shared by the gateway and the CLI.
export {
  SUBPROTOCOL,
  FrameType,
  ResetCode,
  LIMITS,
  ProtocolError,
  encodeFrame,
  decodeFrame,
  parseHello,
  type Frame,
  type Hello,
  type Welcome,
  type TargetRequest,
  type TargetResult,
  type StreamProgress,
  type Protocol,
  type ResetCodeValue,
} from './frames';
export {
  TunnelSession,
  TunnelStream,
  type SessionEvents,
  type SessionOptions,
  type StreamEnd,
} from './session';
export { SendBudget, LINK_SLACK_BYTES, type RoomWaiter } from './send-budget';
export { dataFrameWriter, type OpenState } from './data-frame-writer';
export { bridgeSocket, type BridgeCounters } from './socket-bridge';
export { bridgeDatagrams, type DatagramBridge, type DatagramFlow } from './datagram-bridge';
