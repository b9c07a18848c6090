// Drives the dashboard of a running ilot in headless Chromium (Debian's /usr/bin/chromium,
// through playwright-core: no browser download), as a visitor would, for tests/browser_dashboard.rs:
//
//   ILOT_BASE=http://127.0.0.1:PORT ILOT_SENSORS=N ILOT_NETWORK=toulouse ILOT_SCREENSHOTS=DIR node tests/dashboard.mjs
//
// It opens the alerts page first and waits, without reloading, for the heat-wave alert to
// appear; then checks that the map shows every sensor, that a sensor page shows its series and
// nightly heat island, that the network page shows its calendars and indicators, the citizen
// view, the status page, the language switch, the phone layout, and that nothing left the server (no CDN, no
// tiles by default) and no script error happened. Screenshots go to ILOT_SCREENSHOTS.
// Prints one JSON line of what it saw; exits 1 with the reason on the first failure.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.ILOT_BASE;
const sensors = Number(process.env.ILOT_SENSORS);
const network = process.env.ILOT_NETWORK;
const shots = process.env.ILOT_SCREENSHOTS;
const alertTimeout = Number(process.env.ILOT_ALERT_TIMEOUT_MS || 300000);
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const seen = {};
const problems = [];
const foreign = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url()); });
  page.setDefaultTimeout(120000);

  // 1. The alerts page, open while the heat wave is replayed: the alert appears by itself.
  await page.goto(`${base}/#/alerts`);
  await page.locator('#active-alerts, #past-alerts').first().waitFor();
  seen.canicule_at_load = await page.locator('article.alert[data-rule="canicule"]').count();
  await page.locator('article.alert[data-rule="canicule"]').first().waitFor({ timeout: alertTimeout });
  seen.alert_text = (await page.locator('article.alert[data-rule="canicule"]').first().innerText()).slice(0, 300);
  seen.alert_levels = await page.locator('article.alert[data-rule="canicule"] .badge').allInnerTexts();
  await page.screenshot({ path: join(shots, 'alerts.png'), fullPage: true });

  // 2. The map: every registered sensor is a marker, and a row of the table.
  await page.goto(`${base}/#/`);
  await page.waitForFunction((n) => document.querySelectorAll('path.sensor-marker').length === n, sensors);
  seen.markers = await page.locator('path.sensor-marker').count();
  seen.table_rows = await page.locator('.sensor-table tbody tr').count();
  if (seen.table_rows !== sensors) throw new Error(`${seen.table_rows} table rows for ${sensors} sensors`);
  // The replayed fleet reports until its last reading: most sensors are in service.
  seen.reporting = await page.locator('.sensor-table .badge.health-ok').count();
  if (seen.reporting < sensors / 2) throw new Error(`${seen.reporting} of ${sensors} sensors shown as reporting`);
  seen.labelled_selects = await page.$$eval('select', (all) => all.every((s) => s.labels.length > 0));
  if (!seen.labelled_selects) throw new Error('a select without its label');
  await page.screenshot({ path: join(shots, 'map.png') });
  await page.selectOption('#colour', 'complete_night');
  await page.waitForFunction(() => document.querySelector('.legend-title')?.textContent.includes('last complete night'));
  await page.screenshot({ path: join(shots, 'map-heat-island.png') });

  // 3. A sensor page: its hourly series against the reference, its nightly heat island.
  const urban = page.locator('.sensor-table tbody tr', { hasText: 'urban' }).first().locator('a');
  seen.sensor = await urban.innerText();
  await urban.click();
  await page.locator('#series svg path.line.sensor').waitFor();
  seen.series_points = await page.$eval('#series svg path.line.sensor', (p) => (p.getAttribute('d').match(/[ML]/g) || []).length);
  seen.reference_points = await page.$eval('#series svg path.line.reference', (p) => (p.getAttribute('d').match(/[ML]/g) || []).length);
  seen.nights = await page.locator('#nightly-table tbody tr').count();
  seen.night_bars = await page.locator('#nightly svg rect.bar.max').count();
  if (seen.series_points < 24 || seen.reference_points < 24 || seen.nights < 1) throw new Error(`sensor page: ${JSON.stringify(seen)}`);
  await page.screenshot({ path: join(shots, 'sensor.png'), fullPage: true });

  // 4. The network page: the UHImax and canicule calendars, the criterion met on some days.
  await page.goto(`${base}/#/network/${encodeURIComponent(network)}`);
  await page.locator('#ibm-calendar .day[data-colour]').first().waitFor();
  seen.uhi_days = await page.locator('#uhi-calendar .day[data-colour]').count();
  seen.ibm_days = await page.locator('#ibm-calendar .day[data-colour]').count();
  seen.criterion_days = await page.locator('#ibm-calendar .day[data-colour="#d73027"]').count();
  seen.criterion_label = await page.locator('#ibm-calendar .day[data-colour="#d73027"]').first().getAttribute('aria-label');
  seen.thresholds = await page.locator('#ibm-calendar p').first().innerText();
  if (seen.uhi_days < 2 || seen.criterion_days < 1) throw new Error(`network page: ${JSON.stringify(seen)}`);
  await page.screenshot({ path: join(shots, 'network.png'), fullPage: true });

  // 5. French.
  await page.click('#lang');
  await page.waitForFunction(() => document.documentElement.lang === 'fr' && document.querySelector('nav a[href="#/"]').textContent === 'Carte');
  seen.french_heading = await page.locator('h1').innerText();

  // 6. A phone: the map page fits the screen's width.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'fr-FR', isMobile: true, hasTouch: true });
  const small = await phone.newPage();
  small.setDefaultTimeout(120000);
  small.on('pageerror', (e) => problems.push(`page error (phone): ${e.message}`));
  await small.goto(`${base}/#/`);
  await small.waitForFunction((n) => document.querySelectorAll('path.sensor-marker').length === n, sensors);
  seen.phone_overflow_px = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (seen.phone_overflow_px > 0) throw new Error(`the phone layout is ${seen.phone_overflow_px} px too wide`);
  await small.screenshot({ path: join(shots, 'phone.png') });

  // 7. The intake status page, under the same policy: its script runs, its styles apply.
  await page.goto(`${base}/status`);
  await page.waitForFunction(() => ['healthy', 'unhealthy'].includes(document.getElementById('health')?.textContent));
  seen.status_styled = await page.evaluate(() => getComputedStyle(document.querySelector('header')).backgroundImage.includes('gradient'));
  if (!seen.status_styled) throw new Error('the status page has no style');

  // 8. The citizen view: cells, no token, no sensor identity.
  const citizen = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'fr-FR' });
  const pub = await citizen.newPage();
  pub.setDefaultTimeout(120000);
  pub.on('pageerror', (e) => problems.push(`page error (public): ${e.message}`));
  await pub.goto(`${base}/public`);
  await pub.locator('path.cell-marker').first().waitFor();
  seen.public_cells = await pub.locator('path.cell-marker').count();
  seen.public_text_names_no_sensor = !(await pub.content()).includes(seen.sensor);
  seen.public_temperatures = await pub.evaluate(async () => (await (await fetch('/api/public/map')).json()).features.filter((f) => f.properties.temperature_c !== null).length);
  if (seen.public_temperatures < 1) throw new Error('no cell of the citizen view has a temperature');
  await pub.screenshot({ path: join(shots, 'public.png') });
} catch (error) {
  problems.push(error.message);
} finally {
  await browser.close();
}
if (foreign.length) problems.push(`requests left the server: ${foreign.slice(0, 5).join(', ')}`);
console.log(JSON.stringify(seen));
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
