import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, CLEAR_VALUE, Gateway, PAGE_QUERY, SET_VALUE, START_OAUTH, TEST_CONNECTION, type ConnectionEntry, type FieldDef, type PageData, type Problem } from './api.js';
import { applyBranding } from './branding.js';
import { readCredentials } from './credentials.js';
import { hasHost, notifyHost } from './host.js';

/**
 * The hosted Connect page: the connections a customer user may configure,
 * with their status and what uses them; a form per connector built from its
 * field definitions (secrets masked, server validation beside each field);
 * OAuth2 in a popup; test, reconnect, remove. Everything goes through the
 * public GraphQL API as that user (api.ts).
 */
const STATUS_TEXT: Record<string, string> = {
  NONE: 'Not connected',
  PENDING: 'Pending',
  ACTIVE: 'Connected',
  ERROR: 'Error',
  EXPIRED: 'Expired — reconnect',
};

type Entry = ConnectionEntry;

function App() {
  const [state, setState] = useState<{ phase: 'loading' } | { phase: 'error'; message: string } | { phase: 'ready'; data: PageData; entries: Entry[] }>({
    phase: 'loading',
  });
  const [announcement, setAnnouncement] = useState('');
  const gateway = useRef<Gateway | null>(null);
  const only = useRef<string[] | null>(null);

  const load = async () => {
    try {
      const data = await gateway.current!.request<PageData>(PAGE_QUERY);
      applyBranding(data.viewer.organization.branding);
      document.title = `Connect — ${data.viewer.organization.name}`;
      const entries = (data.customerConnectionOverview?.connections ?? []).flatMap(({ opaque, connection, instances, workflows }) =>
        !opaque && connection && (!only.current || only.current.includes(connection.stableKey)) ? [{ connection, instances, workflows }] : [],
      );
      setState({ phase: 'ready', data, entries });
    } catch (err) {
      setState({ phase: 'error', message: (err as Error).message });
      notifyHost({ type: 'error', message: (err as Error).message });
    }
  };

  useEffect(() => {
    void (async () => {
      const creds = await readCredentials();
      if ('error' in creds) {
        setState({ phase: 'error', message: creds.error });
        notifyHost({ type: 'error', message: creds.error });
        return;
      }
      gateway.current = new Gateway(creds.token);
      only.current = creds.only;
      await load();
      notifyHost({ type: 'ready' });
    })();
  }, []);

  const close = () => {
    notifyHost({ type: 'closed' });
    if (window.opener) window.close();
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && hasHost() && !document.querySelector('form') && close();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  if (state.phase === 'loading') return <main class="page" aria-busy="true"><p class="muted">Loading…</p></main>;
  if (state.phase === 'error') {
    return (
      <main class="page">
        <h1>Connect your accounts</h1>
        <p role="alert" class="alert" data-testid="page-error">{state.message}</p>
        {hasHost() && <button class="button secondary" onClick={close}>Close</button>}
      </main>
    );
  }
  const { viewer } = state.data;
  return (
    <main class="page">
      <header class="header">
        {viewer.organization.branding.logoUrl && <img class="logo" src={viewer.organization.branding.logoUrl} alt={`${viewer.organization.name} logo`} />}
        <div>
          <p class="org">{viewer.organization.name}</p>
          <h1>Connect your accounts{viewer.customer ? <span class="muted"> for {viewer.customer.name}</span> : null}</h1>
        </div>
        {hasHost() && <button class="button secondary close" onClick={close} aria-label="Close">Close</button>}
      </header>
      <p class="sr-only" aria-live="polite" data-testid="announcement">{announcement}</p>
      {state.entries.length === 0 ? (
        <p class="muted">There is nothing for you to connect here.</p>
      ) : (
        <ul class="cards" aria-label="Connections">
          {state.entries.map((e) => (
            <ConnectionCard key={e.connection.id} entry={e} gateway={gateway.current!} reload={load} announce={setAnnouncement} />
          ))}
        </ul>
      )}
    </main>
  );
}

function ConnectionCard(props: { entry: Entry; gateway: Gateway; reload: () => Promise<void>; announce: (s: string) => void }) {
  const { connection, instances, workflows } = props.entry;
  const value = connection.myValue;
  const status = value?.status ?? 'NONE';
  const oauth = connection.connector.authType === 'OAUTH2';
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const headingId = `c-${connection.stableKey}`;

  const report = (kind: 'ok' | 'error', text: string) => {
    setMessage({ kind, text });
    props.announce(`${connection.name}: ${text}`);
  };
  const done = async (text: string) => {
    await props.reload();
    report('ok', text);
  };
  const failed = (err: unknown) => {
    const text = (err as Error).message;
    report('error', text);
    notifyHost({ type: 'error', connectionId: connection.id, stableKey: connection.stableKey, message: text });
  };

  const runOAuth = async () => {
    // Opened on the click itself, or the browser blocks it; pointed at the provider once the gateway answers.
    const popup = window.open('about:blank', 'connect-oauth', 'popup,width=520,height=700');
    setBusy('oauth');
    setMessage(null);
    try {
      const returnUrl = `${location.origin}/connect/oauth-return`;
      const { authorizeUrl } = await props.gateway.mutate<{ authorizeUrl: string }>(START_OAUTH, 'startOAuthAuthorization', {
        connectionId: connection.id,
        successUrl: returnUrl,
        failureUrl: returnUrl,
      });
      if (!popup) throw new Error('Allow pop-ups for this page to sign in with the provider.');
      popup.location.href = authorizeUrl;
      const outcome = await waitForOAuth(popup);
      await props.reload();
      if (outcome.ok) {
        report('ok', 'Connected.');
        notifyHost({ type: 'connected', connectionId: connection.id, stableKey: connection.stableKey, status: 'ACTIVE' });
      } else {
        failed(new Error(outcome.error === 'closed' ? 'The sign-in window was closed before it finished.' : `The provider did not connect (${outcome.error}).`));
      }
    } catch (err) {
      popup?.close();
      failed(err);
    } finally {
      setBusy(null);
    }
  };

  const test = async () => {
    setBusy('test');
    try {
      const r = await props.gateway.mutate<{ ok: boolean; message: string; status: string }>(TEST_CONNECTION, 'testConnection', { connectionId: connection.id });
      await props.reload();
      report(r.ok ? 'ok' : 'error', r.ok ? 'The test succeeded.' : `The test failed: ${r.message}`);
    } catch (err) {
      failed(err);
    } finally {
      setBusy(null);
    }
  };

  const remove = async () => {
    if (!window.confirm(`Remove your ${connection.name} credentials? Integrations that use them stop working until you connect again.`)) return;
    setBusy('remove');
    try {
      await props.gateway.mutate(CLEAR_VALUE, 'clearMyConnectionValue', { connectionId: connection.id });
      await done('Removed.');
    } catch (err) {
      failed(err);
    } finally {
      setBusy(null);
    }
  };

  return (
    <li class="card" aria-labelledby={headingId} data-testid={`connection-${connection.stableKey}`}>
      <div class="card-head">
        <div>
          <h2 id={headingId}>{connection.name}</h2>
          {/* The app it connects to, when the connection's own name does not already say it. */}
          {!sameName(connection.connector.name, connection.name) && <p class="muted small">{connection.connector.name}</p>}
        </div>
        <span class={`badge badge-${status.toLowerCase()}`} data-testid="status">{STATUS_TEXT[status]}</span>
      </div>
      {connection.description && <p class="description">{connection.description}</p>}
      {value?.lastError && status !== 'ACTIVE' && <p class="alert small">{value.lastError}</p>}
      {(instances.length > 0 || workflows.length > 0) && (
        <p class="small usage" data-testid="usage">
          Used by{' '}
          {[...instances.map((i) => `${i.name} (integration)`), ...workflows.map((w) => `${w.name} (workflow)`)].join(', ')}
        </p>
      )}
      {message && (
        <p class={message.kind === 'ok' ? 'notice' : 'alert'} role={message.kind === 'error' ? 'alert' : 'status'} data-testid="message">
          {message.text}
        </p>
      )}
      {editing && !oauth ? (
        <ValueForm
          entry={props.entry}
          gateway={props.gateway}
          onCancel={() => setEditing(false)}
          onSaved={async (savedStatus) => {
            setEditing(false);
            await done(savedStatus === 'ACTIVE' ? 'Connected.' : `Saved (${STATUS_TEXT[savedStatus] ?? savedStatus}).`);
            notifyHost({ type: 'connected', connectionId: connection.id, stableKey: connection.stableKey, status: savedStatus });
          }}
        />
      ) : (
        <div class="actions">
          {oauth ? (
            <button class="button" onClick={runOAuth} disabled={!!busy}>
              {busy === 'oauth' ? 'Waiting for the provider…' : value ? `Reconnect ${connection.name}` : `Connect ${connection.name}`}
            </button>
          ) : (
            <button class="button" onClick={() => (setEditing(true), setMessage(null))} disabled={!!busy}>
              {value ? 'Reconnect' : 'Connect'}
            </button>
          )}
          {value && connection.connector.testable && (
            <button class="button secondary" onClick={test} disabled={!!busy}>
              {busy === 'test' ? 'Testing…' : 'Test connection'}
            </button>
          )}
          {value && (
            <button class="button danger" onClick={remove} disabled={!!busy}>
              Remove
            </button>
          )}
        </div>
      )}
    </li>
  );
}

/** Resolves when the OAuth popup reports back (oauth-return.ts) or is closed. */
function waitForOAuth(popup: Window): Promise<{ ok: boolean; error: string | null }> {
  return new Promise((resolve) => {
    const onMessage = (e: MessageEvent) => {
      if (e.origin !== location.origin || e.source !== popup || (e.data as { source?: string })?.source !== 'connections-gateway-oauth') return;
      finish({ ok: !!(e.data as { ok: boolean }).ok, error: (e.data as { error: string | null }).error });
    };
    const timer = setInterval(() => popup.closed && finish({ ok: false, error: 'closed' }), 500);
    const finish = (r: { ok: boolean; error: string | null }) => {
      clearInterval(timer);
      window.removeEventListener('message', onMessage);
      resolve(r);
    };
    window.addEventListener('message', onMessage);
  });
}

function sameName(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

/**
 * What a field asks for, under it: the connector's own description, else
 * what the field takes (a URL, an email…); secrets always say how they are
 * kept; optional fields say so.
 */
function helpText(f: FieldDef, saved: boolean): string {
  const parts: string[] = [];
  if (f.description?.trim()) parts.push(withStop(f.description.trim()));
  else if (f.type === 'URL') parts.push('A web address, starting with https://.');
  else if (f.type === 'EMAIL') parts.push('An email address.');
  else if (f.type === 'NUMBER') parts.push('A number.');
  else if (f.type === 'JSON') parts.push('JSON, for example {"key": "value"}.');
  if (f.secret) parts.push(saved ? 'Stored encrypted; leave it empty to keep the saved one.' : 'Stored encrypted: once saved, only its last 4 characters are shown.');
  if (!f.required && f.type !== 'BOOLEAN') parts.push('Optional.');
  return parts.join(' ');
}

function withStop(s: string): string {
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** Whether a server problem is about this field (the service names them `values.<key>`). */
function about(p: Problem, key: string): boolean {
  return p.path === `values.${key}` || p.path === key;
}

function ValueForm(props: { entry: Entry; gateway: Gateway; onCancel: () => void; onSaved: (status: string) => Promise<void> }) {
  const { connection } = props.entry;
  const fields = connection.connector.fields.length
    ? connection.connector.fields
    : // A connector without field definitions takes one secret (SECRET_TEXT).
      [{ key: 'secret_text', label: 'Secret', type: 'STRING', required: true, secret: true, default: null, description: null } satisfies FieldDef];
  const existing = connection.myValue;
  const [problems, setProblems] = useState<Problem[]>([]);
  // `fields`: the summary of field problems ("Check the highlighted fields"), gone with the last of them.
  const [formError, setFormError] = useState<{ text: string; fields: boolean } | null>(null);
  const [saving, setSaving] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    formRef.current?.querySelector<HTMLElement>('input, textarea')?.focus();
  }, []);

  const problemOf = (key: string) => problems.find((p) => about(p, key));

  // A field the customer changes is no longer the one the server refused: its message goes (the next save checks again).
  const changed = (e: Event) => {
    const name = (e.target as HTMLInputElement | null)?.name;
    if (!name || !problems.some((p) => about(p, name))) return;
    const left = problems.filter((p) => !about(p, name));
    setProblems(left);
    if (formError?.fields && !left.some((p) => fields.some((f) => about(p, f.key)))) setFormError(null);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(formRef.current!);
    const values: Record<string, unknown> = {};
    for (const f of fields) {
      const raw = form.get(f.key);
      if (f.type === 'BOOLEAN') values[f.key] = raw === 'on';
      else if (f.secret && !raw && existing?.secrets.find((s) => s.key === f.key)?.set) continue; // kept as it is
      else if (raw === '' || raw === null) values[f.key] = null;
      else if (f.type === 'NUMBER') values[f.key] = Number(raw);
      else values[f.key] = String(raw);
    }
    setSaving(true);
    setFormError(null);
    try {
      const saved = await props.gateway.mutate<{ status: string }>(SET_VALUE, 'setMyConnectionValue', { connectionId: connection.id, values, replace: false });
      setProblems([]);
      await props.onSaved(saved.status);
    } catch (err) {
      const apiErr = err instanceof ApiError ? err : new ApiError('ERROR', (err as Error).message);
      const onFields = apiErr.problems.some((p) => fields.some((f) => about(p, f.key)));
      setProblems(apiErr.problems);
      setFormError(onFields ? { text: 'Check the highlighted fields.', fields: true } : { text: apiErr.message, fields: false });
      setTimeout(() => formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
    } finally {
      setSaving(false);
    }
  };

  return (
    <form ref={formRef} class="form" onSubmit={submit} onInput={changed} onChange={changed} noValidate aria-label={`${connection.name} credentials`}>
      {formError && <p class="alert" role="alert">{formError.text}</p>}
      {fields.map((f) => {
        const id = `f-${connection.stableKey}-${f.key}`;
        const problem = problemOf(f.key);
        const hint = existing?.secrets.find((s) => s.key === f.key);
        const current = f.secret ? '' : (existing?.fields[f.key] ?? f.default ?? '');
        const help = helpText(f, !!hint?.set);
        const describedBy = [help ? `${id}-desc` : '', problem ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
        if (f.type === 'BOOLEAN') {
          return (
            <div class="field checkbox" key={f.key}>
              <input id={id} name={f.key} type="checkbox" defaultChecked={!!current} aria-describedby={describedBy} aria-invalid={problem ? 'true' : undefined} />
              <label for={id}>{f.label}</label>
              {help && <p id={`${id}-desc`} class="small muted help">{help}</p>}
              {problem && <p id={`${id}-err`} class="field-error">{problem.message}</p>}
            </div>
          );
        }
        const common = {
          id,
          name: f.key,
          required: f.required && !(f.secret && hint?.set),
          'aria-required': f.required ? ('true' as const) : undefined,
          'aria-invalid': problem ? ('true' as const) : undefined,
          'aria-describedby': describedBy,
        };
        return (
          <div class="field" key={f.key}>
            <label for={id}>
              {f.label}
              {f.required && <span aria-hidden="true"> *</span>}
            </label>
            {f.type === 'TEXT' || f.type === 'JSON' ? (
              <textarea {...common} rows={4} defaultValue={typeof current === 'string' ? current : JSON.stringify(current)} />
            ) : (
              <input
                {...common}
                // Preact types `type` per literal; any of these is a text-like input.
                type={(f.secret ? 'password' : f.type === 'NUMBER' ? 'number' : f.type === 'URL' ? 'url' : f.type === 'EMAIL' ? 'email' : 'text') as 'text'}
                autocomplete={f.secret ? 'off' : undefined}
                placeholder={f.secret && hint?.set ? `Saved${hint.last4 ? ` (ends in ${hint.last4})` : ''}: leave empty to keep` : undefined}
                defaultValue={typeof current === 'string' || typeof current === 'number' ? String(current) : ''}
              />
            )}
            {help && <p id={`${id}-desc`} class="small muted help">{help}</p>}
            {problem && <p id={`${id}-err`} class="field-error">{problem.message}</p>}
          </div>
        );
      })}
      <div class="actions">
        <button class="button" type="submit" disabled={saving}>
          {saving ? 'Saving…' : 'Save'}
        </button>
        <button class="button secondary" type="button" onClick={props.onCancel} disabled={saving}>
          Cancel
        </button>
      </div>
    </form>
  );
}

render(<App />, document.getElementById('app')!);
