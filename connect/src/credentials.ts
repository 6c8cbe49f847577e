import { exchangeLink } from './api.js';
import { setHostOrigin } from './host.js';

/**
 * Where the page's credential comes from, read once from the URL fragment
 * (never sent to a server, never in a Referer) and then removed from the
 * address bar:
 *
 *   #link=<connect link token>                     exchanged once for a session
 *   #token=<embed token>&connections=a,b&origin=…  the SDK's iframe or popup
 *
 * The session of a link is kept in this tab's sessionStorage so a reload
 * keeps working (the link itself is single use).
 */
const SESSION_KEY = 'connections-gateway.connect.session';

export interface Credentials {
  token: string;
  /** Stable keys the host asked to show (embed tokens); null: all the user may configure. Links are limited by the server. */
  only: string[] | null;
}

export async function readCredentials(): Promise<Credentials | { error: string }> {
  const params = new URLSearchParams(location.hash.slice(1));
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  setHostOrigin(params.get('origin'));
  const only = params.get('connections')?.split(',').map((s) => s.trim()).filter(Boolean) ?? null;
  const link = params.get('link');
  if (link) {
    try {
      const session = await exchangeLink(link);
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
      return { token: session.accessToken, only: null };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  const token = params.get('token');
  if (token) return { token, only: only?.length ? only : null };
  const kept = sessionStorage.getItem(SESSION_KEY);
  if (kept) {
    const session = JSON.parse(kept) as { accessToken: string; expiresAt: string };
    if (new Date(session.expiresAt).getTime() > Date.now()) return { token: session.accessToken, only: null };
    sessionStorage.removeItem(SESSION_KEY);
    return { error: 'Your session has ended. Ask for a new link.' };
  }
  return { error: 'Open this page from the link you were sent, or from the app that offers it.' };
}
