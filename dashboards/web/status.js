// The intake status page (/status): reads /healthz, /metrics and /api/sql as any client does,
// refreshed every 5 s (the heat island every minute).
const tokenInput = document.getElementById('token');
tokenInput.value = localStorage.getItem('ilot-token') || '';
tokenInput.onchange = () => localStorage.setItem('ilot-token', tokenInput.value);
// The token, when given, also shows /healthz in full detail (file paths included).
const auth = () => tokenInput.value ? {authorization: 'Bearer ' + tokenInput.value} : {};
async function sql(q) {
  const headers = {'content-type': 'text/plain', ...auth()};
  const r = await fetch('/api/sql?format=json', {method: 'POST', headers, body: q});
  const body = await r.json();
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}
const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
function fill(tbody, rows, cols, num = []) {
  tbody.innerHTML = rows.map(r => '<tr>' + cols.map(c => `<td class="${num.includes(c) ? 'num' : ''}">${esc(r[c])}</td>`).join('') + '</tr>').join('')
    || `<tr><td colspan="${cols.length}" class="muted">no data yet</td></tr>`;
}
async function refresh() {
  try {
    const h = await (await fetch('/healthz', {headers: auth()})).json();
    const badge = document.getElementById('health');
    badge.textContent = h.healthy ? 'healthy' : 'unhealthy';
    badge.className = 'badge ' + (h.healthy ? 'ok' : 'bad');
    document.getElementById('conn').textContent = (h.connected ? 'connected' : 'disconnected') + (h.subscribed ? ', subscribed' : '')
      + (h.last_message_ms ? ' · last message ' + new Date(h.last_message_ms).toLocaleTimeString() : '');
    document.getElementById('problems').textContent = (h.problems || []).join(' · ');
    const m = await (await fetch('/metrics')).text();
    const pick = n => m.split('\n').filter(l => l.startsWith(n + ' ') || l.startsWith(n + '{')).reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    const counters = [['messages received', 'ilot_messages_received_total'], ['messages acked (durable)', 'ilot_messages_acked_total'],
      ['readings stored', 'ilot_readings_stored_total'], ['duplicates dropped', 'ilot_duplicates_total'], ['conflicts kept aside', 'ilot_conflicts_total'],
      ['dead letters', 'ilot_dead_letters_total'], ['rows in memory', 'ilot_buffered_rows'], ['Parquet files', 'ilot_readings_files']];
    document.getElementById('counters').innerHTML = counters.map(([label, n]) => `<tr><th>${label}</th><td class="num">${pick(n).toLocaleString()}</td></tr>`).join('');
  } catch (e) { document.getElementById('problems').textContent = 'status unavailable: ' + e.message; }
  try {
    fill(document.getElementById('networks'), await sql(`SELECT network, count(DISTINCT sensor_id) AS sensors, count(*) AS readings, max(ts) AS newest
      FROM readings WHERE ts >= now() - INTERVAL '1 day' GROUP BY network ORDER BY network`), ['network', 'sensors', 'readings', 'newest'], ['sensors', 'readings']);
    fill(document.getElementById('latest'), await sql(`SELECT network, sensor_id, temperature_c AS t, humidity_pct AS rh, ts AS measured, qc_flags AS qc
      FROM latest_readings ORDER BY network, sensor_id LIMIT 200`), ['network', 'sensor_id', 't', 'rh', 'measured', 'qc'], ['t', 'rh', 'qc']);
  } catch (e) { document.getElementById('networks').innerHTML = `<tr><td colspan="4" class="muted">${esc(e.message)}</td></tr>`; }
}
// Nightly UHI as a heat map: one row per sensor, one column per night, red for a warm city.
async function refreshUhi() {
  const table = document.getElementById('uhi');
  try {
    const rows = await sql(`SELECT network, sensor_id, CAST(night AS VARCHAR) AS night, round(uhi_mean_c, 1) AS uhi, round(uhi_max_c, 1) AS uhi_max,
      reference_mode, reference_stations, time_window FROM uhi_nightly WHERE night >= current_date - INTERVAL '8 days' ORDER BY network, sensor_id, night`);
    if (!rows.length) { table.innerHTML = '<tbody><tr><td class="muted">no complete night yet</td></tr></tbody>'; return; }
    const nights = [...new Set(rows.map(r => r.night))].sort();
    const sensors = [...new Set(rows.map(r => r.network + '/' + r.sensor_id))];
    const cell = new Map(rows.map(r => [r.network + '/' + r.sensor_id + '@' + r.night, r]));
    const colour = v => `hsl(${Math.max(0, 50 - 12 * v)}, 90%, ${Math.max(45, 97 - 10 * Math.max(0, v))}%)`;
    document.getElementById('uhi-how').textContent = [...new Set(rows.map(r => `${r.network}: reference ${r.reference_mode} of ${r.reference_stations}, ${r.time_window}`))].join(' · ');
    table.innerHTML = '<thead><tr><th>sensor</th>' + nights.map(n => `<th>${esc(n)}</th>`).join('') + '</tr></thead><tbody>'
      + sensors.map(s => '<tr><th>' + esc(s) + '</th>' + nights.map(n => {
          const r = cell.get(s + '@' + n);
          return r ? `<td class="num" data-colour="${colour(r.uhi)}" title="UHImax ${esc(r.uhi_max)} °C">${esc(r.uhi)}</td>` : '<td></td>';
        }).join('') + '</tr>').join('') + '</tbody>';
    // Colours through the DOM: the page's policy allows no inline style attribute.
    for (const td of table.querySelectorAll('[data-colour]')) td.style.background = td.dataset.colour;
  } catch (e) { table.innerHTML = `<tbody><tr><td class="muted">${esc(e.message)}</td></tr></tbody>`; }
}
document.getElementById('run').onclick = async () => {
  const err = document.getElementById('err'), table = document.getElementById('result');
  err.textContent = ''; table.innerHTML = '';
  try {
    const rows = await sql(document.getElementById('sql').value);
    const cols = rows.length ? Object.keys(rows[0]) : [];
    table.innerHTML = '<thead><tr>' + cols.map(c => `<th>${esc(c)}</th>`).join('') + '</tr></thead><tbody></tbody>';
    fill(table.querySelector('tbody'), rows, cols);
  } catch (e) { err.textContent = e.message; }
};
refresh(); setInterval(refresh, 5000);
refreshUhi(); setInterval(refreshUhi, 60000);
