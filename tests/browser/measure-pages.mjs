// Measures how long the console takes to show its heaviest pages in headless
// chromium against a running `riskgate serve` (figures go in BENCHMARKS.md).
// Usage: RISKGATE_URL=http://127.0.0.1:8080 RISKGATE_USER=hq RISKGATE_PASSWORD=hq-demo-pass node measure-pages.mjs
import { chromium } from 'playwright-core';
import { submitLogin } from './login.mjs';

const BASE = process.env.RISKGATE_URL;
const USER = process.env.RISKGATE_USER;
const PASSWORD = process.env.RISKGATE_PASSWORD;
const RUNS = Number(process.env.RUNS || 7);
if (!BASE || !USER || !PASSWORD) throw new Error('set RISKGATE_URL, RISKGATE_USER and RISKGATE_PASSWORD');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--lang=zh-CN'] });
const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
const page = await context.newPage();
// Every document load fetches everything again (no browser cache).
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
await submitLogin(page, BASE, USER, PASSWORD);
let bytes = 0;
page.on('requestfinished', async (r) => {
  bytes += (await r.sizes()).responseBodySize;
});
const id = (await (await page.request.get(`${BASE}/api/v1/declarations?limit=1&channel=yellow`)).json()).declarations[0].id;
const times = {
  'overview, new document load to cards + unit chart': [],
  'overview, new document load to trend chart': [],
  'decision page, in-console navigation to feature chart': [],
};
let firstBytes = 0;
for (let i = 0; i < RUNS; i++) {
  bytes = 0;
  // A new document each time (the query string forces it): scripts, API calls and charts.
  const t0 = performance.now();
  await page.goto(`${BASE}/?run=${i}#/overview`, { waitUntil: 'commit' });
  await page.waitForSelector('[data-testid=children-chart][data-ready="1"]');
  times['overview, new document load to cards + unit chart'].push(performance.now() - t0);
  await page.waitForSelector('[data-testid=trend-chart][data-ready="1"]');
  times['overview, new document load to trend chart'].push(performance.now() - t0);
  if (i === 0) firstBytes = bytes;
  // Same document, a new route (as when an officer clicks a declaration).
  const t1 = performance.now();
  await page.evaluate((d) => (location.hash = `#/declarations/${d}`), id);
  await page.waitForSelector('[data-testid=features-chart][data-ready="1"]');
  times['decision page, in-console navigation to feature chart'].push(performance.now() - t1);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`bytes of one overview document load (response bodies as sent): ${firstBytes}`);
for (const [k, v] of Object.entries(times)) console.log(`${k}: median ${median(v).toFixed(0)} ms over ${v.length} loads (min ${Math.min(...v).toFixed(0)}, max ${Math.max(...v).toFixed(0)})`);
await browser.close();
