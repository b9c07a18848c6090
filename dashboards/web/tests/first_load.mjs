// The dashboard's first load, measured in headless Chromium (benches/dashboard.rs): for each of
// ILOT_RUNS cold loads (a new browser context: empty cache), the bytes transferred (as sent on
// the wire, compressed) and the time from navigation until every sensor of the map is drawn.
//
//   ILOT_BASE=http://127.0.0.1:PORT ILOT_SENSORS=N ILOT_RUNS=5 node tests/first_load.mjs
//
// Prints one JSON line: {runs: [{bytes, ms}], bytes_by_type}.

import { chromium } from 'playwright-core';

const base = process.env.ILOT_BASE;
const sensors = String(Number(process.env.ILOT_SENSORS));
const runs = Number(process.env.ILOT_RUNS || 5);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const results = [];
const byType = {};
try {
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const types = new Map();
    let bytes = 0;
    cdp.on('Network.responseReceived', (e) => types.set(e.requestId, e.type));
    cdp.on('Network.loadingFinished', (e) => {
      bytes += e.encodedDataLength;
      const type = types.get(e.requestId) || 'Other';
      if (i === 0) byType[type] = (byType[type] || 0) + e.encodedDataLength;
    });
    await page.goto(`${base}/#/`, { waitUntil: 'commit' });
    const drawn = await page.waitForFunction(
      (n) => document.getElementById('map')?.dataset.markers === n && performance.now(),
      sensors,
      { timeout: 120000, polling: 'raf' },
    );
    const ms = await drawn.jsonValue();
    await page.waitForLoadState('networkidle');
    results.push({ bytes, ms: Math.round(ms) });
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ runs: results, bytes_by_type: byType }));
