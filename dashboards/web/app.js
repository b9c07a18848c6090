// The dashboard's shell: reads /ui/config.json, asks the reader API with the visitor's token
// (asked once, kept for the tab in sessionStorage), routes `#/…` to a page of pages.js, and
// refreshes the shown page every `refresh_s` seconds (polling: the readings change every few
// minutes, and a page that polls needs no held connection through proxies).

import { t, translate, setLanguage, language, fmt } from './i18n.js';
import { route } from './pages.js';

const state = { config: null, page: null, timer: null, route: null };

/// GET `path` from this server's API as JSON. A 401 asks for the token, then tries again.
export async function api(path) {
  for (;;) {
    const token = sessionStorage.getItem('ilot.token');
    const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (response.status === 401) {
      await askToken(token !== null);
      continue;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(body.message || `${response.status}`);
      error.kind = body.error;
      error.status = response.status;
      throw error;
    }
    return body;
  }
}

let asking = null;

function askToken(wasWrong) {
  if (asking) return asking;
  const dialog = document.getElementById('login');
  const form = document.getElementById('login-form');
  document.getElementById('login-error').hidden = !wasWrong;
  asking = new Promise((resolve) => {
    form.addEventListener('submit', () => {
      sessionStorage.setItem('ilot.token', form.token.value.trim());
      form.token.value = '';
      asking = null;
      resolve();
    }, { once: true });
  });
  // Escape would leave every request waiting for a token: the dialog stays until one is given.
  dialog.addEventListener('cancel', (event) => event.preventDefault(), { once: true });
  dialog.showModal();
  return asking;
}

function markUpdated() {
  document.getElementById('updated').textContent = t('updated', { time: fmt.clock(new Date()) });
}

/// Each call of `show` is a generation: a page still loading, or refreshing, when the visitor
/// moves on draws nothing and sets no timer.
let generation = 0;

async function show() {
  const mine = ++generation;
  clearInterval(state.timer);
  const main = document.getElementById('main');
  const hash = location.hash.replace(/^#\/?/, '');
  const parts = hash.split('/').filter(Boolean).map(decodeURIComponent);
  const section = { network: 'networks', sensor: '', alert: 'alerts' }[parts[0]] ?? parts[0] ?? '';
  for (const link of document.querySelectorAll('nav a[href^="#"]')) {
    link.toggleAttribute('aria-current', link.getAttribute('href').replace(/^#\/?/, '').split('/')[0] === section);
  }
  const moved = state.route !== hash;
  state.route = hash;
  main.replaceChildren(Object.assign(document.createElement('p'), { textContent: t('loading') }));
  // Pages draw into a detached element, shown only if this is still the current generation.
  const page = document.createElement('div');
  let drawn;
  try {
    drawn = await route(parts, page, { api, config: state.config });
  } catch (error) {
    if (mine === generation) main.replaceChildren(Object.assign(document.createElement('p'), { className: 'error', role: 'alert', textContent: t('error', { message: error.message }) }));
    return;
  }
  if (mine !== generation) return;
  main.replaceChildren(page);
  drawn?.ready?.();
  state.page = drawn;
  markUpdated();
  if (moved) main.focus({ preventScroll: true });
  state.timer = setInterval(async () => {
    if (document.hidden || !state.page?.refresh) return;
    try {
      await state.page.refresh();
      if (mine === generation) markUpdated();
    } catch (error) {
      if (mine === generation) document.getElementById('updated').textContent = t('error', { message: error.message });
    }
  }, state.config.refresh_s * 1000);
}

async function start() {
  translate();
  document.getElementById('lang').addEventListener('click', () => {
    setLanguage(language() === 'fr' ? 'en' : 'fr');
    translate();
    state.route = null;
    show();
  });
  state.config = await (await fetch('/ui/config.json')).json();
  window.addEventListener('hashchange', show);
  await show();
}

start();
