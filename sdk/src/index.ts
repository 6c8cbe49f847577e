/**
 * Opens the gateway's hosted Connect page over your app, in an iframe (default)
 * or a popup, for the customer user your backend signed `token` for (an embed
 * token), and reports what happens there:
 *
 *   const connect = openConnect({ token, connections: ['acme-api'], onEvent: (e) => console.log(e) });
 *
 * Events: `ready`, `connected` (connectionId, stableKey, status), `error`
 * (message; connectionId when about one), `closed`. They never carry a
 * credential. Only messages from the gateway's origin and from the frame or
 * window this call opened are accepted.
 */
import { MESSAGE_SOURCE, type ConnectEvent } from './protocol.js';

export { MESSAGE_SOURCE, type ConnectEvent };

export interface ConnectOptions {
  /** An embed token for one customer user (see the gateway's README: Authentication). */
  token: string;
  /** Stable keys of the connections to show (default: every one the user may configure). */
  connections?: string[];
  /** The gateway's URL; default: where this script was loaded from. */
  baseUrl?: string;
  /** `iframe` (an overlay over your page) or `popup` (a window). */
  mode?: 'iframe' | 'popup';
  /** Where the iframe goes (default: a full-page overlay on document.body). */
  container?: HTMLElement;
  onEvent?: (event: ConnectEvent) => void;
}

export interface ConnectHandle {
  /** Closes the page (a `closed` event follows). */
  close(): void;
}

function defaultBaseUrl(): string {
  try {
    return new URL(import.meta.url).origin;
  } catch {
    return window.location.origin;
  }
}

export function openConnect(options: ConnectOptions): ConnectHandle {
  const base = new URL(options.baseUrl ?? defaultBaseUrl());
  const fragment = new URLSearchParams({ token: options.token, origin: window.location.origin });
  if (options.connections?.length) fragment.set('connections', options.connections.join(','));
  const url = `${base.origin}/connect#${fragment}`;
  let closed = false;
  let source: Window | null = null;
  let overlay: HTMLElement | null = null;
  let watch: ReturnType<typeof setInterval> | undefined;

  const emit = (event: ConnectEvent) => {
    options.onEvent?.(event);
    if (event.type === 'closed') cleanup();
  };
  const onMessage = (e: MessageEvent) => {
    const data = e.data as { source?: string } & ConnectEvent;
    if (e.origin !== base.origin || e.source !== source || data?.source !== MESSAGE_SOURCE) return;
    const { type, connectionId, stableKey, status, message } = data;
    if (type === 'ready' || type === 'connected' || type === 'error' || type === 'closed') emit({ type, connectionId, stableKey, status, message });
  };
  const cleanup = () => {
    if (closed) return;
    closed = true;
    window.removeEventListener('message', onMessage);
    clearInterval(watch);
    overlay?.remove();
  };
  window.addEventListener('message', onMessage);

  if (options.mode === 'popup') {
    source = window.open(url, 'connections-gateway-connect', 'popup,width=560,height=760');
    if (!source) {
      cleanup();
      options.onEvent?.({ type: 'error', message: 'The browser blocked the popup: call openConnect from a click.' });
      return { close() {} };
    }
    // A popup closed by its user sends nothing: notice it.
    watch = setInterval(() => source?.closed && emit({ type: 'closed' }), 500);
  } else {
    const frame = document.createElement('iframe');
    frame.src = url;
    frame.title = 'Connect your accounts';
    frame.setAttribute('allow', 'clipboard-write');
    frame.style.cssText = 'border:0;width:100%;height:100%;background:transparent';
    if (options.container) {
      overlay = frame;
      options.container.appendChild(frame);
    } else {
      overlay = document.createElement('div');
      overlay.setAttribute('role', 'dialog');
      overlay.setAttribute('aria-modal', 'true');
      overlay.setAttribute('aria-label', 'Connect your accounts');
      overlay.style.cssText = 'position:fixed;inset:0;z-index:2147483000;background:rgba(16,24,40,.6);display:flex;align-items:center;justify-content:center';
      const box = document.createElement('div');
      box.style.cssText = 'width:min(720px,100%);height:min(860px,100%);border-radius:12px;overflow:hidden;background:#fff';
      box.appendChild(frame);
      overlay.appendChild(box);
      document.body.appendChild(overlay);
      frame.focus();
    }
    source = frame.contentWindow;
  }

  return {
    close() {
      if (closed) return;
      if (options.mode === 'popup') source?.close();
      emit({ type: 'closed' });
    },
  };
}
