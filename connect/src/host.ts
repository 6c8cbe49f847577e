/**
 * Talking to the page that opened this one (the SDK's iframe or popup):
 * `ready`, `connected`, `error`, `closed` with a connection's id, stable key
 * and status — never a credential. Messages go only to the origin the SDK
 * named (`origin=` in the URL fragment); without one, nothing is posted.
 */
import { MESSAGE_SOURCE, type ConnectEvent } from '../../sdk/src/protocol.js';

let hostOrigin: string | null = null;

export function setHostOrigin(value: string | null): void {
  if (!value) return;
  try {
    const u = new URL(value);
    if ((u.protocol === 'https:' || u.protocol === 'http:') && u.origin === value) hostOrigin = value;
  } catch {
    // Not an origin: the page runs without a host.
  }
}

export function hasHost(): boolean {
  return hostOrigin !== null && (window.parent !== window || !!window.opener);
}

export function notifyHost(event: ConnectEvent): void {
  if (!hostOrigin) return;
  const target = window.parent !== window ? window.parent : (window.opener as Window | null);
  target?.postMessage({ source: MESSAGE_SOURCE, ...event }, hostOrigin);
}
