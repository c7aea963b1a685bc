// Debian's Chromium driven by playwright-core for the web UI suite: sign-in through the built-in
// provider's form, screenshots at desktop and phone width, axe-core checks, and a record of every
// Content-Security-Policy violation the pages cause.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'web-ui');
const CHROMIUM = process.env.KGW_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 844 };

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

export interface UiSession {
  context: BrowserContext;
  page: Page;
  /** Every CSP violation and uncaught page error seen so far. */
  problems: string[];
}

export async function newSession(browser: Browser): Promise<UiSession> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: DESKTOP, acceptDownloads: true });
  const page = await context.newPage();
  const problems: string[] = [];
  const watch = (p: Page): void => {
    p.on('console', (msg) => {
      if (/Content.Security.Policy|Refused to/i.test(msg.text())) problems.push(`${p.url()}: ${msg.text()}`);
    });
    p.on('pageerror', (err) => problems.push(`${p.url()}: ${err.message}`));
  };
  watch(page);
  context.on('page', watch);
  return { context, page, problems };
}

/** Opens `url` and, at the provider's form, signs in as `user`; waits for the UI to show. */
export async function signIn(page: Page, url: string, user: string, password: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(/\/kgw\/ui\//), page.click('button[type="submit"]')]);
  await page.waitForSelector('header.top');
}

/**
 * A full-page screenshot at desktop width, and one at phone width; returns how wide the page is
 * at phone width (wider than the screen means the whole page scrolls sideways).
 */
export async function screenshots(page: Page, name: string): Promise<number> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const size = page.viewportSize() ?? DESKTOP;
  await page.setViewportSize(PHONE);
  // A string, not a function: the test program has no DOM types (the page has).
  const width = await page.evaluate<number>('document.documentElement.scrollWidth');
  await page.screenshot({ path: join(ARTIFACTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(size);
  return width;
}

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/**
 * axe-core's serious and critical findings on the page as it is now. The script is evaluated
 * through the DevTools protocol, which the page's CSP does not govern (it would refuse an
 * injected <script>, as it should).
 */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  // A string, not a function: the test program has no DOM types (the page has).
  const violations = await page.evaluate("axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)");
  return (violations as AxeViolation[])
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
