// The citizen view (`/public`, when the city switches it on): the map of grid cells from
// /api/public/map (no token; no sensor identity, battery or QC detail) and the heat alerts in
// force, refreshed every `refresh_s` seconds.

import { t, translate, setLanguage, language, fmt } from './i18n.js';
import { el, escapeHtml, scales, legend, paint } from './charts.js';

async function start() {
  translate();
  const config = await (await fetch('/ui/config.json')).json();
  const map = L.map('map', { attributionControl: Boolean(config.tiles) });
  if (config.tiles) L.tileLayer(config.tiles.url, { attribution: escapeHtml(config.tiles.attribution), maxZoom: config.tiles.max_zoom }).addTo(map);
  const layer = L.layerGroup().addTo(map);
  let fitted = false;
  let data = null;

  function draw() {
    layer.clearLayers();
    for (const f of data.features) {
      const p = f.properties;
      const fill = scales.temperature.colour(p.temperature_c);
      L.circleMarker([f.geometry.coordinates[1], f.geometry.coordinates[0]], { radius: 12, color: '#333', weight: 1, fillColor: fill || '#fff', fillOpacity: fill ? 0.85 : 0.3, className: 'cell-marker' })
        .bindTooltip(el('span', { text: t('public.cell', { n: p.sensors, t: fmt.celsius(p.temperature_c), u: fmt.signed(p.night_uhi_mean_c), at: fmt.time(p.as_of) }) }))
        .addTo(layer);
    }
    if (!fitted && data.features.length) {
      map.fitBounds(L.latLngBounds(data.features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]])), { padding: [24, 24], maxZoom: 14 });
      fitted = true;
    } else if (!fitted) map.setView([46.6, 2.4], 5);
    const legendBox = document.getElementById('legend');
    legendBox.replaceChildren(legend(t('map.colour.temperature'), scales.temperature, ' °C', t('map.nodata')));
    paint(legendBox);
    document.getElementById('count').textContent = t('public.cells', { n: data.features.length });
    const lang = language();
    document.getElementById('alert-list').replaceChildren(...(data.alerts.length
      ? data.alerts.map((a) => el('article', { class: `alert public-alert level-${a.level}` },
        el('h3', {}, el('span', { class: `badge level-${a.level}`, text: t(`level.${a.level}`) }), ` ${a.area}`),
        el('p', { text: a.summary?.[lang] || a.summary?.en || '' }),
        el('p', { class: 'meta', text: `${t('alert.onset')} ${fmt.time(a.onset)}` })))
      : [el('p', { text: t('alerts.none') })]));
    document.getElementById('updated').textContent = t('updated', { time: fmt.clock(new Date()) });
  }

  async function load() {
    const response = await fetch('/api/public/map');
    if (!response.ok) throw new Error(`${response.status}`);
    data = await response.json();
    draw();
  }

  document.getElementById('lang').addEventListener('click', () => {
    setLanguage(language() === 'fr' ? 'en' : 'fr');
    translate();
    if (data) draw();
  });
  await load();
  setInterval(() => { if (!document.hidden) load().catch(() => {}); }, config.refresh_s * 1000);
}

start();
