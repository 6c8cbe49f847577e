import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeId } from '../src/ids.js';
import { seedDemoContent, type SeededOrg } from '../src/seed/demo.js';
import { http } from './helpers/client.js';
import { hasBrowser, isolatedPage, launchBrowser, pasteInto } from './helpers/browser.js';
import { putValue } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * GraphiQL as a person uses it, in a real browser that can reach nothing but
 * the gateway: the page and its assets come from the gateway, the header set
 * in the headers pane authenticates queries and subscriptions, and a change
 * made elsewhere shows up as a subscription event.
 */
let gw: TestGateway;
let org: SeededOrg;

useWorld({ orgs: { org: { customers: ['acme-corp', 'globex'] } } }, async (w) => {
  ({ gw, org } = w);
  await seedDemoContent(gw.app, org);
});

describe('GraphiQL page', () => {
  it('is served with its assets from the gateway, nothing from elsewhere', async () => {
    const page = await http(`${gw.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) {
      expect(ref).toMatch(/^\/graphiql\/[0-9a-f]{12}\//);
      const asset = await fetch(gw.url + ref);
      expect(asset.status, ref).toBe(200);
      expect(asset.headers.get('cache-control')).toContain('immutable');
      await asset.arrayBuffer();
    }
    expect(page.body.length).toBeLessThan(20_000);
    expect((await http(`${gw.url}/graphiql/000000000000/graphiql.js`)).status).toBe(404);
    expect((await http(`${refs[0]!.replace(/[^/]+$/, '')}../../../package.json`.replace(/^/, gw.url))).status).toBe(404);
  });
});

describe('GraphiQL off (production): a browser opening /graphql is told why and how to turn it on', () => {
  let prod: TestGateway;
  useWorld({ env: { NODE_ENV: 'production' } }, (w) => ({ gw: prod } = w));

  it('answers a page that says GraphiQL is off, how to turn it on and how to send requests', async () => {
    const page = await http(`${prod.url}/graphql`, { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toMatch(/GraphiQL is off/);
    expect(page.body).toContain('GRAPHIQL=true');
    expect(page.body).toContain('NODE_ENV=production');
    expect(page.body).toContain('Content-Type: application/json');
    // Nothing of GraphiQL itself is served.
    expect(page.body).not.toMatch(/\/graphiql\/[0-9a-f]{12}\/|YogaGraphiQL/);
    // A GraphQL client's GET is still answered as GraphQL.
    const get = await http(`${prod.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'application/graphql-response+json' } });
    expect(get.status).toBe(200);
    expect(get.json()).toEqual({ data: { __typename: 'Query' } });
  });
});

describe.skipIf(!hasBrowser)('GraphiQL in a browser without internet', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('runs a query and a subscription with the Authorization header from its headers pane', async () => {
    const { page, refused } = await isolatedPage(browser, gw.url);
    await page.goto(`${gw.url}/graphql`);
    await page.locator('.graphiql-query-editor .monaco-editor').waitFor({ timeout: 60_000 });
    // The result pane's text, with the editor's non-breaking spaces as spaces.
    const result = async () => (await page.locator('.graphiql-response').textContent())?.replace(/\u00a0/g, ' ') ?? '';

    // The header, as a user sets it.
    await page.locator('.monaco-editor[data-uri$="request-headers.json"]').click();
    await pasteInto(page, JSON.stringify({ Authorization: `Bearer ${org.adminToken}` }));

    await page.locator('.graphiql-query-editor .monaco-editor').click();
    await pasteInto(page, '{ viewer { kind organization { name } } }');
    await page.locator('.graphiql-execute-button').click();
    await expect.poll(result, { timeout: 30_000 }).toContain('"ORG_USER"');
    expect(await result()).toContain(org.slug);

    // A subscription, authenticated by the same header; then a change made elsewhere.
    const globex = org.customers.find((c) => c.externalId === 'globex')!;
    await page.locator('.graphiql-query-editor .monaco-editor').click();
    await pasteInto(
      page,
      `subscription { availableConnectionsChanged(customerId: "${encodeId('Customer', globex.id)}") { kind connection { name } } }`,
    );
    const subscribers = gw.app.feed.subscriberCount;
    await page.locator('.graphiql-execute-button').click();
    await expect.poll(() => gw.app.feed.subscriberCount, { timeout: 30_000 }).toBe(subscribers + 1);

    const acme = await gw.app.db.prisma.connection.findFirstOrThrow({ where: { orgId: org.orgId, stableKey: 'acme-api' } });
    await putValue(gw.app, acme.id, { kind: 'CUSTOMER', customerId: globex.id }, { baseUrl: 'https://globex.example', apiKey: 'globex-key-0123456789' });
    await expect.poll(result, { timeout: 30_000 }).toContain('"ADDED"');
    expect(await result()).toContain('Acme API');
    expect(await result()).not.toContain('globex-key');

    expect(refused).toEqual([]);
    await page.close();
  });
});
