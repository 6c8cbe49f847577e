import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * A real browser for the tests: Debian's Chromium driven by playwright-core
 * (no browser download). `.ci/run` installs it when missing; elsewhere a
 * missing browser skips the browser tests with a note, and fails them in CI.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasBrowser = existsSync(CHROMIUM);
if (!hasBrowser && process.env.CI) throw new Error(`No browser at ${CHROMIUM}: apt-get install -y chromium`);
if (!hasBrowser) console.warn(`Browser tests skipped: no ${CHROMIUM} (apt-get install -y chromium)`);

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * A page that may reach `origin` only (and its own blob:/data: URLs): every
 * other request is refused and recorded, as on a machine without internet.
 */
export async function isolatedPage(browser: Browser, origin: string): Promise<{ page: Page; refused: string[] }> {
  const context = await browser.newContext();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  const refused: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + '/') || url.startsWith('blob:') || url.startsWith('data:')) return route.continue();
    refused.push(url);
    return route.abort();
  });
  return { page, refused };
}

/** Replaces the content of the focused editor as a user pasting would (typing would trigger the editor's auto-closing brackets). */
export async function pasteInto(page: Page, text: string): Promise<void> {
  await page.evaluate((t) => navigator.clipboard.writeText(t), text);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Control+V');
}
