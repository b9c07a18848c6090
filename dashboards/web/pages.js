// The dashboard's pages, one function each, routed from `#/…` by `route`: the map (`#/`), a
// sensor (`#/sensor/<network>/<sensor>`), the networks and one network's calendar and health
// (`#/networks`, `#/network/<network>`), the alerts and one alert's history (`#/alerts`,
// `#/alert/<id>`). Each page draws itself into `main` (an element not yet on screen) and
// returns `{refresh}` for the poll, and `ready` to run once it is shown.
// Everything comes from the reader API (docs: /api/openapi.json); every value says how it was
// computed, as the API's `computed_with` does.

import { t, fmt } from './i18n.js';
import { el, escapeHtml, table, scales, legend, paint, lineChart, barChart, calendar } from './charts.js';

export async function route(parts, main, ctx) {
  const [page, a, b] = parts;
  if (!page) return mapPage(main, ctx);
  if (page === 'sensor' && a && b) return sensorPage(main, ctx, a, b);
  if (page === 'networks') return networksPage(main, ctx);
  if (page === 'network' && a) return networkPage(main, ctx, a);
  if (page === 'alerts') return alertsPage(main, ctx);
  if (page === 'alert' && a) return alertPage(main, ctx, a);
  throw new Error(`#/${parts.join('/')}`);
}

const sensorLink = (p) => el('a', { href: `#/sensor/${encodeURIComponent(p.network)}/${encodeURIComponent(p.sensor_id)}`, text: p.name || p.sensor_id });
const healthBadge = (h) => el('span', { class: `badge health-${h}`, text: t(`health.${h}`) });
const levelBadge = (l) => el('span', { class: `badge level-${l}`, text: t(`level.${l}`) });
const iso = (d) => d.toISOString().slice(0, 10);
const daysBefore = (day, n) => iso(new Date(new Date(`${day}T00:00:00Z`).getTime() - n * 86400000));

/// The newest reading's day of `features` (the data's "today": a replayed past stays readable).
function dataDay(features) {
  const times = features.map((f) => f.properties.ts).filter(Boolean).sort();
  return times.length ? times[times.length - 1].slice(0, 10) : iso(new Date());
}

// ---------------------------------------------------------------------------------------- map

const COLOURS = {
  temperature: { value: (p) => p.temperature_c, scale: scales.temperature, text: (v) => fmt.celsius(v) },
  latest_night: { value: (p) => p.latest_night_uhi_mean_c, scale: scales.uhi, text: (v) => fmt.signed(v) },
  complete_night: { value: (p) => p.complete_night_uhi_mean_c, scale: scales.uhi, text: (v) => fmt.signed(v) },
};

/// Past this many sensors the map draws on a canvas, and the table lists the first TABLE_MAX.
const CANVAS_FROM = 2000;
const TABLE_MAX = 1000;

async function mapPage(main, { api, config }) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  let colour = sessionStorage.getItem('ilot.colour') || 'temperature';
  let network = params.get('network') || '';
  const [data, networks] = await Promise.all([api('/api/map'), api('/api/networks')]);
  const colourSelect = el('select', { id: 'colour', onchange: (e) => { colour = e.target.value; sessionStorage.setItem('ilot.colour', colour); draw(current); } },
    Object.keys(COLOURS).map((k) => el('option', { value: k, selected: k === colour, text: t(`map.colour.${k}`) })));
  const networkSelect = el('select', { id: 'network', onchange: (e) => { network = e.target.value; draw(current); fit(); } },
    el('option', { value: '', text: t('map.all') }), networks.rows.map((n) => el('option', { value: n.network, selected: n.network === network, text: n.display_name || n.network })));
  const mapDiv = el('div', { id: 'map', class: 'map', role: 'region', 'aria-label': t('map.region') });
  const banner = el('div', { class: 'banners', role: 'status' });
  const legendBox = el('div', { class: 'legend-box' });
  const count = el('p', { class: 'count', 'aria-live': 'polite' });
  const list = el('div', { class: 'sensor-table' });
  main.replaceChildren(
    el('h1', { text: t('map.title') }),
    el('div', { class: 'controls' },
      el('label', { for: 'colour', text: t('map.colour') }), colourSelect,
      el('label', { for: 'network', text: t('map.network') }), networkSelect),
    banner, mapDiv, legendBox, count, list);

  // Thousands of markers draw on one canvas; a city's hundred stay SVG elements (each its own
  // path, with the sensor's class).
  const map = L.map(mapDiv, { preferCanvas: data.features.length > CANVAS_FROM, zoomControl: true, attributionControl: Boolean(config.tiles) });
  if (config.tiles) L.tileLayer(config.tiles.url, { attribution: escapeHtml(config.tiles.attribution), maxZoom: config.tiles.max_zoom }).addTo(map);
  const layer = L.layerGroup().addTo(map);
  let current = data;

  function shown(features) {
    return features.filter((f) => !network || f.properties.network === network);
  }

  function fit() {
    const features = shown(current.features);
    if (!features.length) { map.setView([46.6, 2.4], 5); return; }
    map.fitBounds(L.latLngBounds(features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]])), { padding: [24, 24], maxZoom: 15 });
  }

  function draw(collection) {
    current = collection;
    const features = shown(collection.features);
    const mode = COLOURS[colour];
    layer.clearLayers();
    for (const f of features) {
      const p = f.properties;
      const value = mode.value(p);
      const fill = mode.scale.colour(value);
      const marker = L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
        radius: p.role === 'rural' ? 9 : 7,
        color: p.health === 'ok' ? '#222' : '#b00020',
        weight: p.health === 'ok' ? 1 : 3,
        dashArray: p.role === 'rural' ? '3 2' : null,
        fillColor: fill || '#ffffff',
        fillOpacity: fill ? 0.9 : 0.4,
        className: `sensor-marker health-${p.health}`,
      });
      // A node, not a string: Leaflet would read a string as HTML, and names come from the registry.
      // Made when the tooltip opens: ten thousand sensors need not make ten thousand nodes.
      marker.bindTooltip(() => el('span', { text: `${p.name || p.sensor_id} · LCZ ${p.lcz ?? '–'} · ${mode.text(value)} · ${t(`health.${p.health}`)}` }));
      marker.on('click', () => { location.hash = `#/sensor/${encodeURIComponent(p.network)}/${encodeURIComponent(p.sensor_id)}`; });
      marker.addTo(layer);
      marker.getElement()?.setAttribute('data-sensor', `${p.network}/${p.sensor_id}`);
    }
    legendBox.replaceChildren(legend(t(`map.colour.${colour}`), mode.scale, colour === 'temperature' ? ' °C' : ' K', t('map.nodata')));
    paint(legendBox);
    count.textContent = t('map.count', { n: features.length });
    mapDiv.dataset.markers = String(features.length);
    const stale = Object.entries(collection.networks || {}).filter(([n, { as_of: asOf }]) =>
      (!network || n === network) && asOf && Date.now() - new Date(asOf).getTime() > 86400000);
    banner.replaceChildren(...stale.map(([n, { as_of: asOf }]) => el('p', { class: 'notice', text: t('map.stale', { network: n, time: fmt.time(asOf) }) })));
    const cut = features.length > TABLE_MAX ? [el('p', { class: 'count', text: t('map.table.cut', { shown: TABLE_MAX, n: features.length }) })] : [];
    list.replaceChildren(table(t('map.table'), [
      { label: t('sensor'), value: sensorLink },
      { label: t('network'), value: (p) => p.network },
      { label: t('lcz'), value: (p) => p.lcz },
      { label: t('role'), value: (p) => (p.role ? t(`role.${p.role}`) : '–') },
      { label: t(`map.colour.${colour}`), value: (p) => mode.text(mode.value(p)) },
      { label: t('health'), value: (p) => healthBadge(p.health) },
      { label: t('qc'), value: (p) => (p.qc?.length ? p.qc.map((q) => t(`qc.${q}`)).join(', ') : t('qc.none')) },
      { label: t('last_reading'), value: (p) => fmt.time(p.ts) },
    ], features.slice(0, TABLE_MAX).map((f) => f.properties), { class: 'data' }), ...cut);
  }

  draw(data);
  // Sized and fitted once the page is on screen (it is drawn off-screen first).
  return { refresh: async () => draw(await api('/api/map')), ready: () => { map.invalidateSize(); fit(); } };
}

// ------------------------------------------------------------------------------------- sensor

async function sensorPage(main, { api }, network, sensor) {
  const base = `/api/sensors/${encodeURIComponent(network)}/${encodeURIComponent(sensor)}`;
  const q = `sensor=${encodeURIComponent(sensor)}`;

  async function load() {
    const map = await api(`/api/map?network=${encodeURIComponent(network)}`);
    const feature = map.features.find((f) => f.properties.sensor_id === sensor);
    const p = feature?.properties ?? { network, sensor_id: sensor, health: 'no_data' };
    const to = p.ts ? p.ts.slice(0, 10) : iso(new Date());
    const [hourly, nightly, tntx, qc] = await Promise.all([
      api(`${base}/uhi?granularity=hourly&from=${daysBefore(to, 3)}&to=${to}`),
      api(`${base}/uhi?granularity=nightly&from=${daysBefore(to, 13)}&to=${to}`),
      api(`/api/networks/${encodeURIComponent(network)}/tn-tx?${q}&from=${daysBefore(to, 6)}&to=${to}`),
      api(`${base}/qc?from=${daysBefore(to, 6)}&to=${to}`),
    ]);
    return { p, hourly, nightly, tntx, qc: qc.rows[0] };
  }

  function draw({ p, hourly, nightly, tntx, qc }) {
    const cw = hourly.computed_with;
    const night = cw.night_mode === 'sun' ? 'sunset–sunrise' : `${cw.night_start_utc_hour}:00–${cw.night_end_utc_hour}:00 UTC`;
    const hours = hourly.rows.map((r) => ({ ...r, at: new Date(r.hour) }));
    main.replaceChildren(
      el('p', {}, el('a', { href: '#/', text: t('sensor.back') })),
      el('h1', { text: `${p.name || sensor} (${sensor})` }),
      el('dl', { class: 'facts' },
        el('dt', { text: t('network') }), el('dd', {}, el('a', { href: `#/network/${encodeURIComponent(network)}`, text: network })),
        el('dt', { text: t('lcz') }), el('dd', { text: p.lcz ?? '–' }),
        el('dt', { text: t('role') }), el('dd', { text: p.role ? t(`role.${p.role}`) : '–' }),
        el('dt', { text: t('health') }), el('dd', {}, healthBadge(p.health)),
        el('dt', { text: t('last_reading') }), el('dd', { text: `${fmt.celsius(p.temperature_c)} · ${fmt.time(p.ts)}` }),
        el('dt', { text: t('battery') }), el('dd', { text: p.battery_v ? `${fmt.number(p.battery_v, 2)} V` : '–' })),
      el('p', { class: 'computed', text: t('sensor.computed', { mode: cw.reference_mode, stations: (cw.reference_sensors || []).join(', ') || '–', night }) }),
      el('section', { 'aria-labelledby': 'h-series', id: 'series' },
        el('h2', { id: 'h-series', text: t('sensor.series') }),
        hours.length ? lineChart(t('sensor.series'), hours, (r) => r.at, [
          { label: t('sensor.series.sensor'), y: (r) => r.temperature_c, cls: 'sensor' },
          { label: t('sensor.series.reference', { mode: cw.reference_mode }), y: (r) => r.reference_c, cls: 'reference' },
        ], '°') : el('p', { text: t('sensor.nodata') }),
        el('details', {}, el('summary', { text: t('network.days') }), table(t('sensor.series'), [
          { label: 'UTC', value: (r) => r.hour.slice(0, 16).replace('T', ' ') },
          { label: t('sensor.series.sensor'), value: (r) => fmt.celsius(r.temperature_c) },
          { label: t('sensor.series.reference', { mode: cw.reference_mode }), value: (r) => fmt.celsius(r.reference_c) },
          { label: t('uhi'), value: (r) => fmt.signed(r.uhi_c) },
        ], hourly.rows, { class: 'data' }))),
      el('section', { 'aria-labelledby': 'h-nightly', id: 'nightly' },
        el('h2', { id: 'h-nightly', text: t('sensor.nightly') }),
        nightly.rows.length ? barChart(t('sensor.nightly'), nightly.rows, (r) => r.night, [
          { label: t('sensor.nightly.mean'), y: (r) => r.uhi_mean_c, cls: 'mean' },
          { label: t('sensor.nightly.max'), y: (r) => r.uhi_max_c, cls: 'max' },
        ], '°') : el('p', { text: t('sensor.nodata') }),
        table(t('sensor.nightly'), [
          { label: t('night'), value: (r) => fmt.day(r.night) },
          { label: t('sensor.nightly.mean'), value: (r) => fmt.signed(r.uhi_mean_c) },
          { label: t('sensor.nightly.max'), value: (r) => fmt.signed(r.uhi_max_c) },
          { label: '%', value: (r) => fmt.number(100 * r.completeness, 0) },
        ], nightly.rows, { class: 'data', id: 'nightly-table' })),
      el('section', { 'aria-labelledby': 'h-tntx' },
        el('h2', { id: 'h-tntx', text: t('sensor.tntx') }),
        table(t('sensor.tntx'), [
          { label: t('date'), value: (r) => fmt.day(r.date) },
          { label: t('tn'), value: (r) => `${fmt.celsius(r.tn_c)}${r.tn_provisional ? ` (${t('provisional')})` : ''}` },
          { label: t('tx'), value: (r) => `${fmt.celsius(r.tx_c)}${r.tx_provisional ? ` (${t('provisional')})` : ''}` },
          { label: '', value: (r) => [r.tropical_night && t('tropical_night'), r.hot_day && t('hot_day')].filter(Boolean).join(', ') },
        ], tntx.rows, { class: 'data' })),
      el('section', { 'aria-labelledby': 'h-qc' },
        el('h2', { id: 'h-qc', text: t('sensor.qc', { days: 7 }) }),
        el('p', { text: t('sensor.qc.summary', { passed: qc.temperature_passed, readings: qc.readings, valid: qc.hours_valid, hours: qc.hours_with_data }) }),
        qc.crowdqc ? el('p', { text: t('sensor.qc.crowdqc', { level: qc.crowdqc.required_level, passed: qc.crowdqc.passed[qc.crowdqc.required_level], hours: qc.crowdqc.hours }) }) : null,
        table(t('qc'), [
          { label: t('sensor.qc.flag'), value: (f) => f.flag },
          { label: t('sensor.qc.count'), value: (f) => f.count },
          { label: t('sensor.qc.reason'), value: (f) => t(`qc.${f.flag}`) },
        ], qc.flags, { class: 'data' })));
  }

  draw(await load());
  return { refresh: async () => draw(await load()) };
}

// ----------------------------------------------------------------------------------- networks

async function networksPage(main, { api }) {
  const networks = await api('/api/networks');
  if (networks.rows.length === 1) {
    location.replace(`#/network/${encodeURIComponent(networks.rows[0].network)}`);
    return {};
  }
  main.replaceChildren(el('h1', { text: t('networks.title') }),
    el('ul', { class: 'networks' }, networks.rows.map((n) => el('li', {}, el('a', { href: `#/network/${encodeURIComponent(n.network)}`, text: n.display_name || n.network })))));
  return {};
}

async function networkPage(main, { api }, network) {
  const name = encodeURIComponent(network);

  async function load() {
    const map = await api(`/api/map?network=${name}`);
    const to = dataDay(map.features);
    const from = daysBefore(to, 55);
    const days = await api(`/api/networks/${name}/calendar?from=${from}&to=${to}`);
    return { map, days, from, to };
  }

  function draw({ map, days, from, to }) {
    const byDay = new Map(days.rows.map((r) => [r.day.slice(0, 10), r]));
    const th = days.computed_with.thresholds || {};
    const sick = map.features.map((f) => f.properties).filter((p) => p.health !== 'ok');
    const uhiCell = (day) => {
      const r = byDay.get(day);
      if (!r || r.uhi_max_c === null) return { colour: null, label: t('network.nodata.cell', { day: fmt.day(day) }) };
      return { colour: scales.uhi.colour(r.uhi_max_c), label: t('network.uhi.cell', { day: fmt.day(day), max: fmt.number(r.uhi_max_c), mean: fmt.number(r.uhi_mean_c), n: r.uhi_stations }) };
    };
    const ibmCell = (day) => {
      const r = byDay.get(day);
      if (!r || r.ibmn_max_c === null) return { colour: null, label: t('network.nodata.cell', { day: fmt.day(day) }) };
      const state = r.criterion_met_stations > 0 ? 'met' : (r.ibmn_max_c >= r.tn_threshold_c || r.ibmx_max_c >= r.tx_threshold_c) ? 'near' : 'below';
      const colour = { met: '#d73027', near: '#fdae61', below: '#a6d96a' }[state];
      return { colour, label: `${t('network.ibm.cell', { day: fmt.day(day), ibmn: fmt.number(r.ibmn_max_c), ibmx: fmt.number(r.ibmx_max_c), met: r.criterion_met_stations, n: r.ibm_stations })} (${t(`network.ibm.${state}`)})` };
    };
    const ibmLegend = el('div', { class: 'legend' }, ['met', 'near', 'below'].map((s) =>
      el('span', { class: 'legend-item' }, el('span', { class: 'swatch', 'data-colour': { met: '#d73027', near: '#fdae61', below: '#a6d96a' }[s] }), t(`network.ibm.${s}`))));
    main.replaceChildren(
      el('h1', { text: `${t('network')} ${network}` }),
      el('section', { 'aria-labelledby': 'h-uhi', id: 'uhi-calendar' },
        el('h2', { id: 'h-uhi', text: t('network.calendar.uhi') }),
        calendar(t('network.calendar.uhi'), from, to, uhiCell),
        legend('UHImax', scales.uhi, ' K', t('map.nodata'))),
      el('section', { 'aria-labelledby': 'h-ibm', id: 'ibm-calendar' },
        el('h2', { id: 'h-ibm', text: t('network.calendar.ibm') }),
        el('p', { text: t('network.thresholds', { sn: fmt.number(th.tn_threshold_c), sx: fmt.number(th.tx_threshold_c), source: th.source || '–' }) }),
        calendar(t('network.calendar.ibm'), from, to, ibmCell), ibmLegend,
        el('p', { class: 'computed', text: t('network.ibm_note') }),
        el('details', {}, el('summary', { text: t('network.days') }), table(t('network.days'), [
          { label: t('date'), value: (r) => fmt.day(r.day) },
          { label: 'UHImax', value: (r) => fmt.signed(r.uhi_max_c) },
          { label: 'IBMn', value: (r) => fmt.celsius(r.ibmn_max_c) },
          { label: 'IBMx', value: (r) => fmt.celsius(r.ibmx_max_c) },
          { label: 'Sn / Sx', value: (r) => (r.tn_threshold_c === null ? '–' : `${r.tn_threshold_c} / ${r.tx_threshold_c}`) },
          { label: t('network.ibm.met'), value: (r) => (r.criterion_met_stations ?? '–') },
        ], days.rows, { class: 'data', id: 'days-table' }))),
      el('section', { 'aria-labelledby': 'h-health', id: 'health' },
        el('h2', { id: 'h-health', text: t('network.health') }),
        sick.length ? table(t('network.health.count', { n: sick.length }), [
          { label: t('sensor'), value: sensorLink },
          { label: t('health'), value: (p) => healthBadge(p.health) },
          { label: t('last_reading'), value: (p) => fmt.time(p.ts) },
          { label: t('battery'), value: (p) => (p.battery_v ? `${fmt.number(p.battery_v, 2)} V` : '–') },
        ], sick, { class: 'data' }) : el('p', { text: t('network.health.ok') })));
    paint(main);
  }

  draw(await load());
  return { refresh: async () => draw(await load()) };
}

// ------------------------------------------------------------------------------------- alerts

function evidence(data) {
  const i = data?.indicators || {};
  const rows = Object.entries(i).filter(([, v]) => v !== null && typeof v !== 'object');
  const sensors = data?.area?.sensors || i.sensors || [];
  return el('div', { class: 'evidence' },
    rows.length ? el('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v) })])) : null,
    sensors.length ? el('p', { text: `${t('alert.sensors')} : ${sensors.join(', ')}` }) : null);
}

const summary = (data) => data?.summary?.[document.documentElement.lang] || data?.summary?.en || '';

async function alertsPage(main, { api }) {
  async function load() {
    try {
      return await api('/api/alerts');
    } catch (error) {
      if (error.kind === 'alerts_disabled') return null;
      throw error;
    }
  }
  function card(a) {
    return el('article', { class: `alert level-${a.level}`, 'data-alert': a.id, 'data-rule': a.rule },
      el('h3', {}, levelBadge(a.level), ' ', el('a', { href: `#/alert/${encodeURIComponent(a.id)}`, text: `${a.rule} · ${a.area}` })),
      el('p', { text: summary(a.latest) }),
      el('p', { class: 'meta', text: `${t('alert.onset')} ${fmt.time(a.onset)} · ${t('alert.updated')} ${fmt.time(a.updated)}${a.cleared ? ` · ${t('alert.cleared')} ${fmt.time(a.cleared)}` : ''}` }),
      el('details', {}, el('summary', { text: t('alert.evidence') }), evidence(a.latest)));
  }
  function draw(body) {
    if (!body) {
      main.replaceChildren(el('h1', { text: t('alerts.title') }), el('p', { text: t('alerts.disabled') }));
      return;
    }
    const active = body.alerts.filter((a) => a.active);
    const past = body.alerts.filter((a) => !a.active);
    main.replaceChildren(el('h1', { text: t('alerts.title') }),
      el('p', { class: 'computed', text: t('alert.not_official') }),
      el('section', { 'aria-labelledby': 'h-active', id: 'active-alerts' }, el('h2', { id: 'h-active', text: t('alerts.active') }),
        active.length ? active.map(card) : el('p', { text: t('alerts.none') })),
      el('section', { 'aria-labelledby': 'h-past', id: 'past-alerts' }, el('h2', { id: 'h-past', text: t('alerts.history') }),
        past.length ? past.map(card) : el('p', { text: t('alerts.none_history') })));
  }
  draw(await load());
  return { refresh: async () => draw(await load()) };
}

async function alertPage(main, { api }, id) {
  async function load() {
    return api(`/api/alerts/${encodeURIComponent(id)}`);
  }
  function draw(body) {
    const a = body.alert ?? body;
    const events = body.events ?? [];
    main.replaceChildren(el('p', {}, el('a', { href: '#/alerts', text: t('alerts.title') })),
      el('h1', {}, levelBadge(a.level), ` ${a.rule} · ${a.area}`),
      el('p', { class: 'computed', text: t('alert.not_official') }),
      el('section', { 'aria-labelledby': 'h-events' }, el('h2', { id: 'h-events', text: t('alert.events') }),
        events.map((e) => {
          const data = e.payload?.data ?? e.data ?? e;
          return el('article', { class: `alert level-${data.level}` },
            el('h3', {}, levelBadge(data.level), ` ${data.status ?? ''} · ${fmt.time(data.issued)}`),
            el('p', { text: summary(data) }), evidence(data));
        })));
  }
  draw(await load());
  return { refresh: async () => draw(await load()) };
}
