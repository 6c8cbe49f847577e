/**
 * The end of the page's OAuth2 popup: the gateway's callback sends the
 * browser here (`?status=connected` or `?error=…`). Tells the Connect page
 * that opened the popup (same origin only) and closes; without an opener the
 * text says what happened.
 */
const q = new URLSearchParams(location.search);
const ok = q.get('status') === 'connected' && !q.get('error');
const text = document.getElementById('text')!;
text.textContent = ok ? 'Connected. You can close this window.' : `The connection failed (${q.get('error') ?? 'unknown error'}). You can close this window and try again.`;
const page = window.opener as Window | null;
if (page) {
  page.postMessage({ source: 'connections-gateway-oauth', ok, error: ok ? null : (q.get('error') ?? 'unknown') }, location.origin);
  window.close();
}

export {};
