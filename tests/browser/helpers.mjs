// Shared by the browser tests: the server started by run.sh, the test
// accounts of users.txt, and a headless Debian chromium.
import { test, before, after } from 'node:test';
import { chromium } from 'playwright-core';
import { submitLogin } from './login.mjs';
import { readFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BASE = process.env.RISKGATE_URL;
export const PASSWORD = process.env.RISKGATE_TEST_PASSWORD;
export const ARTIFACTS = process.env.RISKGATE_ARTIFACTS || join(dirname(fileURLToPath(import.meta.url)), '../../target/browser-artifacts');
if (!BASE || !PASSWORD) throw new Error('run these tests with tests/browser/run.sh (RISKGATE_URL, RISKGATE_TEST_PASSWORD)');

// name → {role, office}
export const USERS = Object.fromEntries(
  readFileSync(new URL('./users.txt', import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .map(([name, role, office, department]) => [name, { role, office, department }]),
);
export const userOf = (role) => Object.keys(USERS).find((n) => USERS[n].role === role);

export async function launch() {
  // --lang: date inputs and number formats follow the browser's language, as on a customs desktop.
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--lang=zh-CN'] });
}

// A fresh context (own cookies and storage) logged in through the login form.
export async function loginAs(browser, name, { lang } = {}) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'zh-CN' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.errors = errors;
  // Every request the console makes, to prove it needs nothing from outside.
  page.requests = [];
  page.on('request', (r) => page.requests.push(r.url()));
  if (lang) await context.addInitScript((l) => localStorage.setItem('riskgate.lang', l), lang);
  await submitLogin(page, BASE, name, PASSWORD);
  return { context, page };
}

// The tests of one file: they share a browser, launched before the first and
// closed after the last. `asUser(name, fn, options)` runs `fn(page)` logged in
// as `name` in a fresh context (loginAs), closed afterwards; `testAs(title,
// name, fn, options)` is a test that does only that.
export function browserTests() {
  let browser;
  before(async () => (browser = await launch()));
  after(async () => browser?.close());
  const asUser = async (name, fn, options) => {
    const { context, page } = await loginAs(browser, name, options);
    try {
      await fn(page);
    } finally {
      await context.close();
    }
  };
  const testAs = (title, name, fn, options) => test(title, () => asUser(name, fn, options));
  return { browser: () => browser, asUser, testAs };
}

export async function navKeys(page) {
  return page.$$eval('#nav a', (as) => as.map((a) => a.dataset.nav));
}

// An API call made with the page's session cookie: its status and JSON body.
export async function apiCall(page, method, path, body) {
  return page.evaluate(
    async ([m, p, b]) => {
      const r = await fetch(`/api/v1${p}`, {
        method: m,
        credentials: 'same-origin',
        headers: b ? { 'Content-Type': 'application/json' } : {},
        body: b ? JSON.stringify(b) : undefined,
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    },
    [method, path, body],
  );
}

// Status of an API call made with the page's session cookie.
export async function apiStatus(page, method, path, body) {
  return (await apiCall(page, method, path, body)).status;
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Let charts draw.
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

// Resolves once the page of the current route has rendered (its title is
// there and nothing in it is still loading); charts draw on the next frames.
export async function settled(page) {
  await page.waitForFunction(() => {
    const view = document.querySelector('main .view:not([data-old])');
    if (!view || !view.querySelector('h1')) return false;
    return ![...view.querySelectorAll('p.muted, div')].some((e) => e.childElementCount === 0 && /^(加载中…|Loading…)$/.test(e.textContent.trim()));
  });
  await page.waitForTimeout(150);
}

// Goes to `route` and waits for its page (not the one shown before); a
// page that does not finish loading fails naming the route.
export async function openRoute(page, base, route) {
  if (await page.evaluate((r) => location.hash === `#${r}`, route)) return settled(page);
  await page.evaluate(() => document.querySelector('main .view')?.setAttribute('data-old', '1'));
  await page.goto(`${base}#${route}`);
  await settled(page).catch((e) => {
    throw new Error(`${route} did not finish loading: ${e.message}`);
  });
}
