import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeId } from '../src/ids.js';
import { seedDemoContent, type SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import { hasBrowser, isolatedPage, launchBrowser } from './helpers/browser.js';
import { Collector, currentCursor, wsClient } from './helpers/feed.js';
import { asOrg, makeConnection, makeConnector, valueOf } from './helpers/fixtures.js';
import { createInstance, createIntegration } from '../src/modules/integrations/service.js';
import type { TestGateway } from './helpers/gateway.js';
import { CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from './helpers/oidc-provider.js';
import { useWorld } from './helpers/world.js';

/**
 * The hosted Connect page as people use it, in Debian's Chromium: someone
 * with a connect link enters a secret (the runtime then resolves it and the
 * picker feed announces it), runs an OAuth2 flow in a popup against a real
 * provider, cannot reuse the link; a customer sees only its own values; a
 * vendor's page embeds it with the SDK and hears its events. Each state is
 * saved as a screenshot in docs/connect/ (the README shows them).
 */
const SHOTS = path.resolve(import.meta.dirname, '../docs/connect');

const CreateLink = graphql(`
  mutation ConnectPageLink($customerId: ID!, $connections: [String!]!) {
    createConnectLink(customerId: $customerId, connections: $connections) {
      __typename ... on MutationCreateConnectLinkSuccess { data { url } } ... on Error { code message }
    }
  }
`);

const Brand = graphql(`
  mutation ConnectPageBrand($input: OrganizationSettingsInput!) {
    updateOrganizationSettings(input: $input) { __typename }
  }
`);

const Resolve = graphql(`
  query ConnectPageResolve($stableKey: String!) {
    resolveConnection(stableKey: $stableKey) { __typename ... on ResolvedCredential { props accessToken } ... on ResolutionProblem { code } }
  }
`);

const Feed = graphql(`
  subscription ConnectPageFeed($after: String) {
    availableConnectionsChanged(after: $after) { cursor kind connectionId connection { id name connectorKey connectorName } }
  }
`);

const LOGO =
  'data:image/svg+xml;base64,' +
  Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48"><rect width="48" height="48" rx="10" fill="#5b21b6"/><path d="M14 30 L24 14 L34 30 Z" fill="#fff"/></svg>',
  ).toString('base64');

let gw: TestGateway;
let org: SeededOrg;
let idp: TestProvider;
let acmeConnId: string;

const customer = (externalId: string) => org.customers.find((c) => c.externalId === externalId)!;

// The provider runs on this machine: loopback is allowed explicitly (the default refuses it).
useWorld({ env: { OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32' }, orgs: { org: { name: 'Northwind Apps', customers: ['acme-corp', 'globex'] } } }, async (w) => {
  ({ gw, org } = w);
  idp = await startProvider({ redirectUris: [`${gw.url}/oauth/callback`] });
  await seedDemoContent(gw.app, org);
  acmeConnId = (await gw.app.db.prisma.connection.findFirstOrThrow({ where: { orgId: org.orgId, stableKey: 'acme-api' } })).id;
  const connector = await makeConnector(gw.app, org.orgId, {
    key: 'idp',
    name: 'Northwind ID',
    authType: 'OAUTH2',
    oauth2: { grantType: 'authorization_code', authorizeUrl: idp.authorizeUrl, tokenUrl: idp.tokenUrl, scopes: ['openid', 'offline_access'], clientId: CLIENT_ID, pkce: true, extraAuthorizeParams: { prompt: 'consent' } },
    oauthClientSecret: CLIENT_SECRET,
    testRequest: { method: 'GET', url: idp.userinfoUrl, headers: { authorization: 'Bearer {{accessToken}}' } },
  });
  await makeConnection(gw.app, org.orgId, { stableKey: 'idp-user', name: 'Northwind ID', connectorId: connector.id, type: 'CUSTOMER_ACTIVATED', availableInWorkflows: true });
  await gql(gw.url, Brand, { input: { brandLogoUrl: LOGO, brandPrimaryColor: '#5b21b6' } }, org.adminToken);
  // Where it is used: an integration deployed to globex needs the Acme API connection.
  await asOrg(gw.app, org.orgId, async (op) => {
    const integration = await createIntegration(op, { stableKey: 'crm-sync', name: 'CRM sync', connections: [{ connectionStableKey: 'acme-api' }] });
    await createInstance(op, { integrationId: integration.id, customerId: customer('globex').id, name: 'CRM sync' });
  });
  mkdirSync(SHOTS, { recursive: true });
});
afterAll(async () => {
  await idp?.close();
});

async function linkFor(externalId: string, connections: string[]): Promise<string> {
  const r = await gql(gw.url, CreateLink, { customerId: encodeId('Customer', customer(externalId).id), connections }, org.adminToken);
  if (r.data?.createConnectLink.__typename !== 'MutationCreateConnectLinkSuccess') throw new Error(JSON.stringify(r));
  return r.data.createConnectLink.data.url;
}

const card = (page: Page, stableKey: string) => page.getByTestId(`connection-${stableKey}`);
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, name), fullPage: true });

describe('the Connect page', () => {
  it('is served from the gateway with its assets and a strict CSP', async () => {
    const res = await http(`${gw.url}/connect`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const refs = [...res.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    // Its icon, styles and script.
    expect(refs).toHaveLength(3);
    for (const ref of refs) {
      expect(ref).toMatch(/^\/connect\/assets\/[\w-]+\.(js|css|svg)$/);
      expect((await http(gw.url + ref)).status).toBe(200);
    }
    expect((await http(`${gw.url}/connect/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
    expect((await http(`${gw.url}/connect/sdk.js`)).body).toContain('openConnect');
  });
});

describe.skipIf(!hasBrowser)('the Connect page in a browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('a link: enter a secret → ACTIVE → the runtime resolves it and the picker feed says ADDED; OAuth2 in a popup; the link works once', async () => {
    const globex = customer('globex');
    const feed = new Collector(wsClient(gw.url, globex.userToken), Feed, { after: await currentCursor(gw.app.db.prisma) });
    const url = await linkFor('globex', ['acme-api', 'idp-user']);
    const { page, refused } = await isolatedPage(browser, gw.url);
    await page.setViewportSize({ width: 900, height: 800 });
    await page.goto(url);
    await expect.poll(() => card(page, 'acme-api').getByTestId('status').textContent()).toBe('Not connected');
    // The link's token left the address bar; the org's name and colours are there.
    expect(page.url()).toBe(`${gw.url}/connect`);
    expect(await card(page, 'acme-api').getByTestId('usage').textContent()).toBe('Used by CRM sync (integration)');
    await expect.poll(() => page.locator('.org').textContent()).toBe('Northwind Apps');
    const colours = await page.getByRole('button', { name: 'Connect', exact: true }).evaluate((b) => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]);
    expect(colours[0]).toBe('rgb(91, 33, 182)');
    // Text on the org's colour stays readable (WCAG AA, 4.5:1).
    expect(contrast(colours[0]!, colours[1]!)).toBeGreaterThanOrEqual(4.5);
    await shot(page, '1-link-opened.png');

    // By keyboard: focus the button, Enter opens the form with the first field focused.
    await card(page, 'acme-api').getByRole('button', { name: 'Connect', exact: true }).focus();
    await page.keyboard.press('Enter');
    const baseUrl = page.getByLabel('Base URL');
    await expect.poll(() => baseUrl.evaluate((el) => el === document.activeElement)).toBe(true);
    const apiKey = page.getByLabel('API key');
    expect(await apiKey.getAttribute('type')).toBe('password');
    await page.keyboard.type('not a url');
    await page.getByRole('button', { name: 'Save' }).click();
    // The server's message, beside the field it is about.
    await expect.poll(() => page.locator('.field-error').allTextContents()).toHaveLength(2);
    expect(await baseUrl.getAttribute('aria-invalid')).toBe('true');
    const describedBy = (await baseUrl.getAttribute('aria-describedby'))!;
    expect(await page.locator(`[id="${describedBy.split(' ').pop()}"]`).textContent()).toMatch(/URL/);
    await shot(page, '2-validation.png');

    await baseUrl.fill('https://globex.example/api');
    await apiKey.fill('globex-secret-4242');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => card(page, 'acme-api').getByTestId('status').textContent()).toBe('Connected');
    expect(await page.content()).not.toContain('globex-secret-4242');
    await shot(page, '3-connected.png');

    const resolved = await gql(gw.url, Resolve, { stableKey: 'acme-api' }, globex.runtimeToken);
    expect(resolved.data!.resolveConnection).toMatchObject({ __typename: 'ResolvedCredential', props: { baseUrl: 'https://globex.example/api', apiKey: 'globex-secret-4242' } });
    await feed.until((c) => c.events.some((e) => e.kind === 'ADDED' && e.connection?.name === 'Acme API'), 15_000, 'ADDED acme-api');

    // OAuth2: the provider in a popup, back to the page.
    const popup = page.waitForEvent('popup');
    await card(page, 'idp-user').getByRole('button', { name: 'Connect Northwind ID' }).click();
    await (await popup).waitForEvent('close', { timeout: 30_000 });
    await expect.poll(() => card(page, 'idp-user').getByTestId('status').textContent(), { timeout: 15_000 }).toBe('Connected');
    const idpConn = await gw.app.db.prisma.connection.findFirstOrThrow({ where: { orgId: org.orgId, stableKey: 'idp-user' } });
    expect((await valueOf(gw.app, idpConn.id, globex.id)).status).toBe('ACTIVE');
    expect(idp.grants.authorization_code).toBe(1);
    const oauthResolved = await gql(gw.url, Resolve, { stableKey: 'idp-user' }, globex.runtimeToken);
    expect(oauthResolved.data!.resolveConnection).toMatchObject({ __typename: 'ResolvedCredential' });
    await shot(page, '4-oauth-connected.png');

    // Test connection: the connector's test request (the provider's userinfo) with the fresh token. Acme API has none: no button.
    await card(page, 'idp-user').getByRole('button', { name: 'Test connection' }).click();
    await expect.poll(() => card(page, 'idp-user').getByTestId('message').textContent()).toBe('The test succeeded.');
    expect(await card(page, 'acme-api').getByRole('button', { name: 'Test connection' }).count()).toBe(0);
    // Remove, then the card is back to "Not connected".
    page.once('dialog', (d) => void d.accept());
    await card(page, 'idp-user').getByRole('button', { name: 'Remove' }).click();
    await expect.poll(() => card(page, 'idp-user').getByTestId('status').textContent()).toBe('Not connected');
    await page.setViewportSize({ width: 390, height: 844 });
    // Usable at phone width: nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(page, '5-phone.png');
    expect(refused).toEqual([]);

    // The same link, in another browser: used.
    const again = await isolatedPage(browser, gw.url);
    await again.page.goto(url);
    await expect.poll(() => again.page.getByTestId('page-error').textContent()).toMatch(/invalid, expired, revoked or was already used/);
    await shot(again.page, '6-link-refused.png');
    feed.close();
    await page.context().close();
    await again.page.context().close();
  });

  describe('issue 20: the page’s rough edges', () => {
    beforeAll(async () => {
      // One connection named as its connector, one named otherwise; a connector without any help text of its own.
      const plain = await makeConnector(gw.app, org.orgId, {
        key: 'plain',
        name: 'Plain',
        authType: 'CUSTOM_AUTH',
        fields: [
          { key: 'token', label: 'Token', type: 'STRING', required: true, secret: true },
          { key: 'region', label: 'Region', type: 'STRING' },
        ],
      });
      await makeConnection(gw.app, org.orgId, { stableKey: 'plain-api', name: 'Plain', connectorId: plain.id, type: 'CUSTOMER_ACTIVATED' });
      await makeConnection(gw.app, org.orgId, { stableKey: 'help-api', name: 'Help desk', connectorKey: 'acme-api', type: 'CUSTOMER_ACTIVATED' });
    });

    /** A fresh link of globex's to both, opened, with every failed request recorded. */
    const open = async () => {
      const url = await linkFor('globex', ['help-api', 'plain-api']);
      const { page, refused } = await isolatedPage(browser, gw.url);
      const failed: string[] = [];
      page.on('response', (r) => void (r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`)));
      page.on('requestfailed', (r) => void failed.push(`failed ${r.url()}`));
      await page.goto(url);
      await expect.poll(() => card(page, 'plain-api').getByTestId('status').textContent()).toBe('Not connected');
      return { page, refused, failed };
    };

    it('no request fails while the page loads: its icon is its own (no /favicon.ico 404)', async () => {
      const { page, refused, failed } = await open();
      await page.waitForLoadState('networkidle');
      // The icon the browser shows, from the gateway.
      await expect.poll(() => page.evaluate(() => document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.href ?? '')).toMatch(/\/connect\/assets\/favicon-[\w-]+\.svg$/);
      expect(failed).toEqual([]);
      expect(refused).toEqual([]);
      await page.context().close();
    });

    it('the connection’s name once; the connector’s only when it differs', async () => {
      const { page } = await open();
      const text = async (key: string) => (await card(page, key).innerText()).replace(/\s+/g, ' ');
      expect((await text('plain-api')).match(/Plain/g)).toHaveLength(1);
      expect((await text('help-api')).match(/Help desk/g)).toHaveLength(1);
      expect((await text('help-api')).match(/Acme API/g)).toHaveLength(1);
      await page.context().close();
    });

    it('help under every field: the connector’s description, or what the field takes', async () => {
      const { page } = await open();
      const helpOf = async (label: string) => {
        const field = page.getByLabel(label);
        const ids = ((await field.getAttribute('aria-describedby')) ?? '').split(' ').filter(Boolean);
        expect(ids.length, `${label} has no help`).toBeGreaterThan(0);
        return (await page.locator(`[id="${ids[0]}"]`).textContent())?.trim() ?? '';
      };
      await card(page, 'help-api').getByRole('button', { name: 'Connect', exact: true }).click();
      await card(page, 'plain-api').getByRole('button', { name: 'Connect', exact: true }).click();
      expect(await helpOf('Base URL')).toMatch(/address of your Acme API/);
      expect(await helpOf('API key')).toMatch(/Settings.*API keys.*encrypted/s);
      expect(await helpOf('Token')).toMatch(/encrypted/);
      expect(await helpOf('Region')).toMatch(/Optional/);
      await page.context().close();
    });

    it('a field’s error goes once the customer corrects it, without saving again', async () => {
      const { page } = await open();
      const form = card(page, 'help-api');
      await form.getByRole('button', { name: 'Connect', exact: true }).click();
      await form.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => form.locator('.field-error').allTextContents()).toEqual(['is required', 'is required']);
      const baseUrl = page.getByLabel('Base URL');
      await baseUrl.fill('https://globex.example/help');
      await expect.poll(() => form.locator('.field-error').allTextContents()).toEqual(['is required']);
      expect(await baseUrl.getAttribute('aria-invalid')).toBeNull();
      expect(await page.getByLabel('API key').getAttribute('aria-invalid')).toBe('true');
      expect(await form.getByRole('alert').count()).toBe(1);
      await page.getByLabel('API key').fill('help-desk-secret-1');
      await expect.poll(() => form.locator('.field-error').count()).toBe(0);
      expect(await form.getByRole('alert').count()).toBe(0);
      await page.context().close();
    });
  });

  it('a customer sees its own values only; an expired link is refused', async () => {
    // acme-corp has an ACTIVE value (the seed); globex's page does not show it.
    const { page } = await isolatedPage(browser, gw.url);
    await page.goto(`${gw.url}/connect#token=${customer('acme-corp').userToken}`);
    await expect.poll(() => card(page, 'acme-api').getByTestId('status').textContent()).toBe('Connected');
    const globexUrl = await linkFor('globex', ['idp-user']);
    const other = await isolatedPage(browser, gw.url);
    await other.page.goto(globexUrl);
    await expect.poll(() => card(other.page, 'idp-user').count()).toBe(1);
    expect(await card(other.page, 'acme-api').count()).toBe(0);

    const expired = await linkFor('globex', ['acme-api']);
    const token = new URL(expired).hash.replace('#link=', '');
    await gw.app.db.prisma.connectLink.updateMany({ where: { customerId: customer('globex').id, usedAt: null }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const third = await isolatedPage(browser, gw.url);
    await third.page.goto(`${gw.url}/connect#link=${token}`);
    await expect.poll(() => third.page.getByTestId('page-error').textContent()).toMatch(/expired/);
    for (const p of [page, other.page, third.page]) await p.context().close();
  });

  it("the SDK opens the page over a vendor's page and its events reach it, without secrets", async () => {
    const host = await hostPage(gw.url, customer('acme-corp').userToken);
    try {
      const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
      const page = await context.newPage();
      await page.goto(host.url);
      await page.getByRole('button', { name: 'Connect accounts' }).click();
      const frame = page.frameLocator('iframe[title="Connect your accounts"]');
      await frame.getByRole('button', { name: 'Reconnect' }).click();
      await frame.getByLabel('API key').fill('acme-rotated-secret-777');
      await frame.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => page.evaluate(() => (window as unknown as { events: { type: string }[] }).events.map((e) => e.type))).toContain('connected');
      await shot(page, '7-embedded.png');
      await frame.getByRole('button', { name: 'Close' }).click();
      await expect.poll(() => page.locator('iframe').count()).toBe(0);
      const events = await page.evaluate(() => (window as unknown as { events: unknown[] }).events);
      expect(events).toEqual([
        { type: 'ready' },
        { type: 'connected', connectionId: encodeId('Connection', acmeConnId), stableKey: 'acme-api', status: 'ACTIVE' },
        { type: 'closed' },
      ]);
      expect(JSON.stringify(events)).not.toContain('acme-rotated-secret-777');
      await context.close();
    } finally {
      await host.close();
    }
  });
});

/** WCAG contrast ratio of two `rgb(r, g, b)` colours. */
function contrast(a: string, b: string): number {
  const lum = (c: string) => {
    const [r, g, bl] = c.match(/\d+/g)!.slice(0, 3).map((x) => {
      const v = Number(x) / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/** A vendor's page on another origin that embeds the Connect page with the SDK the gateway serves. */
async function hostPage(gatewayUrl: string, token: string): Promise<{ url: string; close(): Promise<void> }> {
  const html = `<!doctype html><html lang="en"><title>Vendor app</title><body>
<h1>Vendor app</h1><button id="open">Connect accounts</button>
<script type="module">
  import { openConnect } from '${gatewayUrl}/connect/sdk.js';
  window.events = [];
  document.getElementById('open').onclick = () => openConnect({
    token: ${JSON.stringify(token)},
    connections: ['acme-api'],
    onEvent: (e) => window.events.push(Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined))),
  });
</script></body></html>`;
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
