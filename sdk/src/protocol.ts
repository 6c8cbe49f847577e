/**
 * What the Connect page tells the page that opened it (postMessage), shared by
 * the page (connect/src/host.ts) and the SDK: the event types and the tag that
 * marks the gateway's messages. Events never carry a credential.
 */
export const MESSAGE_SOURCE = 'connections-gateway-connect';

export interface ConnectEvent {
  type: 'ready' | 'connected' | 'error' | 'closed';
  connectionId?: string;
  stableKey?: string;
  status?: string;
  message?: string;
}
