// Drawing data: SVG line and bar charts, the day calendar, colour scales and data tables. Each
// chart is an <svg role="img"> with a title naming what it shows, and is paired by the pages
// with a table of the same values (the accessible, copyable form).

const SVG = 'http://www.w3.org/2000/svg';

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

/// Text made safe for the few library options that take HTML (Leaflet's attribution).
export function escapeHtml(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/// A table: `columns` = [{label, value(row) → text or Node}].
export function table(caption, columns, rows, attrs = {}) {
  return el('table', attrs,
    el('caption', { text: caption }),
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col', text: c.label })))),
    el('tbody', {}, rows.map((row) => el('tr', {}, columns.map((c) => {
      const value = c.value(row);
      return el('td', {}, value instanceof Node ? value : String(value ?? '–'));
    })))));
}

/// Colour scales: value → CSS colour (null: no value). Stops are colour-blind-safe (viridis-like
/// for temperature, blue–red diverging for anomalies).
const TEMPERATURE = [[0, '#313695'], [10, '#4575b4'], [18, '#74add1'], [24, '#fee090'], [30, '#f46d43'], [36, '#d73027'], [42, '#67001f']];
const ANOMALY = [[-2, '#4575b4'], [0, '#f7f7f7'], [2, '#fdae61'], [4, '#f46d43'], [6, '#a50026']];

function interpolate(stops, value) {
  if (value === null || value === undefined || Number.isNaN(value)) return null;
  if (value <= stops[0][0]) return stops[0][1];
  for (let i = 1; i < stops.length; i++) {
    const [v1, c1] = stops[i];
    const [v0, c0] = stops[i - 1];
    if (value <= v1) {
      const f = (value - v0) / (v1 - v0);
      const mix = (a, b) => Math.round(parseInt(a, 16) * (1 - f) + parseInt(b, 16) * f).toString(16).padStart(2, '0');
      return `#${mix(c0.slice(1, 3), c1.slice(1, 3))}${mix(c0.slice(3, 5), c1.slice(3, 5))}${mix(c0.slice(5, 7), c1.slice(5, 7))}`;
    }
  }
  return stops[stops.length - 1][1];
}

export const scales = {
  temperature: { colour: (v) => interpolate(TEMPERATURE, v), stops: TEMPERATURE },
  uhi: { colour: (v) => interpolate(ANOMALY, v), stops: ANOMALY },
};

/// A legend of `scale`'s stops, `unit` after each value.
export function legend(title, scale, unit, noData) {
  return el('div', { class: 'legend' }, el('span', { class: 'legend-title', text: title }),
    scale.stops.map(([v, c]) => el('span', { class: 'legend-item' }, el('span', { class: 'swatch', 'data-colour': c }), `${v}${unit}`)),
    el('span', { class: 'legend-item' }, el('span', { class: 'swatch none' }), noData));
}

/// Paints `.swatch[data-colour]` (colours are set through the DOM: the page's policy allows no
/// inline style attributes).
export function paint(root) {
  for (const s of root.querySelectorAll('[data-colour]')) s.style.background = s.dataset.colour;
}

/// A line chart of `rows` over time: `x(row)` a Date, `lines` = [{label, y(row), cls}].
export function lineChart(title, rows, x, lines, unit) {
  const W = 720, H = 260, L = 48, R = 12, T = 12, B = 36;
  const xs = rows.map(x).map((d) => d.getTime());
  const ys = rows.flatMap((r) => lines.map((l) => l.y(r))).filter((v) => v !== null && v !== undefined);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart', 'aria-label': title }, svg('title', {}, title));
  if (!xs.length || !ys.length) return root;
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const px = (t) => L + ((t - x0) / Math.max(1, x1 - x0)) * (W - L - R);
  const py = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  for (const tick of ticks(y0, y1, 5)) {
    root.append(svg('line', { x1: L, x2: W - R, y1: py(tick), y2: py(tick), class: 'grid' }),
      svg('text', { x: L - 6, y: py(tick) + 4, class: 'axis', 'text-anchor': 'end' }, `${tick}${unit}`));
  }
  const dayMs = 86400000;
  for (let d = Math.ceil(x0 / dayMs) * dayMs; d <= x1; d += dayMs) {
    root.append(svg('line', { x1: px(d), x2: px(d), y1: T, y2: H - B, class: 'grid' }),
      svg('text', { x: px(d), y: H - B + 16, class: 'axis', 'text-anchor': 'middle' }, new Date(d).toISOString().slice(5, 10)));
  }
  for (const line of lines) {
    let path = '';
    let previous = null;
    rows.forEach((row, i) => {
      const v = line.y(row);
      if (v === null || v === undefined) { previous = null; return; }
      // A gap of more than two hours breaks the line: no value is drawn where none was measured.
      const move = previous === null || xs[i] - previous > 2 * 3600000;
      path += `${move ? 'M' : 'L'}${px(xs[i]).toFixed(1)},${py(v).toFixed(1)}`;
      previous = xs[i];
    });
    root.append(svg('path', { d: path, class: `line ${line.cls}` }));
  }
  const key = svg('g', { class: 'key' });
  lines.forEach((line, i) => key.append(svg('rect', { x: L + 8 + i * 200, y: H - 14, width: 14, height: 4, class: `swatch-line ${line.cls}` }),
    svg('text', { x: L + 28 + i * 200, y: H - 9, class: 'axis' }, line.label)));
  root.append(key);
  return root;
}

/// Bars per day: `bars` = [{label, y(row), cls}] side by side for each row.
export function barChart(title, rows, label, bars, unit) {
  const W = 720, H = 220, L = 48, R = 12, T = 12, B = 36;
  const ys = rows.flatMap((r) => bars.map((b) => b.y(r))).filter((v) => v !== null && v !== undefined);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart', 'aria-label': title }, svg('title', {}, title));
  if (!ys.length) return root;
  const y0 = Math.min(0, ...ys), y1 = Math.max(0.5, ...ys);
  const py = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  for (const tick of ticks(y0, y1, 4)) {
    root.append(svg('line', { x1: L, x2: W - R, y1: py(tick), y2: py(tick), class: 'grid' }),
      svg('text', { x: L - 6, y: py(tick) + 4, class: 'axis', 'text-anchor': 'end' }, `${tick}${unit}`));
  }
  const slot = (W - L - R) / rows.length;
  const width = Math.max(2, (slot * 0.8) / bars.length);
  rows.forEach((row, i) => {
    bars.forEach((bar, j) => {
      const v = bar.y(row);
      if (v === null || v === undefined) return;
      const x = L + i * slot + slot * 0.1 + j * width;
      root.append(svg('rect', { x, width, y: Math.min(py(v), py(0)), height: Math.abs(py(v) - py(0)), class: `bar ${bar.cls}` },
        svg('title', {}, `${label(row)} ${bar.label}: ${v}${unit}`)));
    });
    if (rows.length <= 16 || i % Math.ceil(rows.length / 12) === 0) {
      root.append(svg('text', { x: L + (i + 0.5) * slot, y: H - B + 16, class: 'axis', 'text-anchor': 'middle' }, label(row).slice(5)));
    }
  });
  bars.forEach((bar, i) => root.append(svg('rect', { x: L + 8 + i * 200, y: H - 14, width: 14, height: 8, class: `bar ${bar.cls}` }),
    svg('text', { x: L + 28 + i * 200, y: H - 7, class: 'axis' }, bar.label)));
  return root;
}

function ticks(lo, hi, n) {
  const step = niceStep((hi - lo) / n);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.round(v * 100) / 100);
  return out;
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/// A calendar of days (weeks as columns, Monday first): `cell(day)` → {colour, label} or null.
/// Each day is a focusable cell whose label says its values.
export function calendar(title, from, to, cell) {
  const grid = el('div', { class: 'calendar', role: 'list', 'aria-label': title });
  const start = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`);
  const offset = (start.getUTCDay() + 6) % 7;
  for (let i = 0; i < offset; i++) grid.append(el('span', { class: 'day blank', 'aria-hidden': 'true' }));
  for (let d = start; d <= end; d = new Date(d.getTime() + 86400000)) {
    const day = d.toISOString().slice(0, 10);
    const c = cell(day);
    grid.append(el('span', { class: `day${c?.colour ? '' : ' empty'}`, role: 'listitem', tabindex: '0', title: c.label, 'aria-label': c.label, 'data-colour': c?.colour, 'data-day': day },
      el('span', { class: 'day-number', 'aria-hidden': 'true', text: String(d.getUTCDate()) })));
  }
  return el('figure', { class: 'calendar-figure' }, el('figcaption', { text: title }), grid);
}
