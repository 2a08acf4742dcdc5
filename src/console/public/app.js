// The console's shell: asks for the API key once per tab, then shows one view per route.
import { api, apiKey, Unauthorized } from './api.js';
import { h, say } from './dom.js';
import { renderConnections } from './connections.js';
import { renderDevices } from './devices.js';
import { renderLive } from './live.js';
import { renderWebhooks } from './webhooks.js';

const VIEWS = {
  connections: { title: 'Connections', render: renderConnections },
  devices: { title: 'Devices', render: renderDevices },
  live: { title: 'Live', render: renderLive },
  webhooks: { title: 'Webhooks', render: renderWebhooks },
};

const view = document.getElementById('view');
const nav = document.querySelector('nav');
const forget = document.getElementById('forget');
/** Stops what the current view runs (the live stream). */
let leave = () => undefined;

function askForKey(message) {
  leave();
  leave = () => undefined;
  nav.hidden = true;
  forget.hidden = true;
  document.title = 'lpwan-bridge console';
  const input = h('input', { id: 'key', name: 'key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const error = h('p', { class: 'error', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    { class: 'login', onsubmit: (event) => void signIn(event, input.value.trim(), error) },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'The API key of this bridge (one of its API_KEYS). It is kept for this tab only.'),
    h('label', { for: 'key' }, 'API key'),
    input,
    error,
    h('button', { type: 'submit' }, 'Open the console'),
  );
  view.replaceChildren(form);
  say('');
  input.focus();
}

async function signIn(event, key, error) {
  event.preventDefault();
  apiKey.set(key);
  try {
    await api('GET', 'api/connections?limit=1');
  } catch (failure) {
    apiKey.clear();
    error.textContent = failure instanceof Unauthorized ? 'This key was refused.' : `The bridge did not answer: ${failure.message}`;
    return;
  }
  if (!location.hash) location.hash = '#/connections';
  else void show();
}

/** `keepStatus`: a refresh after an action keeps the action's outcome on screen. */
async function show(keepStatus = false) {
  if (!apiKey.get()) return askForKey();
  const name = location.hash.replace(/^#\/?/, '').split('?')[0] || 'connections';
  const current = VIEWS[name] ?? VIEWS.connections;
  leave();
  leave = () => undefined;
  nav.hidden = false;
  forget.hidden = false;
  for (const link of nav.querySelectorAll('a')) link.toggleAttribute('aria-current', link.getAttribute('href') === `#/${name}`);
  document.title = `${current.title} · lpwan-bridge`;
  if (!keepStatus) say('');
  const heading = h(
    'div',
    { class: 'view-heading' },
    h('h1', { id: 'view-title' }, current.title),
    name === 'live' ? null : h('button', { type: 'button', class: 'secondary', onclick: () => void show(true) }, 'Refresh'),
  );
  const container = h('section', { 'aria-labelledby': 'view-title' }, heading);
  view.replaceChildren(container);
  try {
    leave = (await current.render(container, { onError: handleError, refresh: () => void show(true) })) ?? (() => undefined);
  } catch (failure) {
    handleError(failure);
  }
}

/** Every view reports failures here: a refused key asks for it again, anything else is shown. */
function handleError(failure) {
  if (failure instanceof Unauthorized) {
    apiKey.clear();
    askForKey('The API key was refused; enter it again.');
  } else {
    say(failure.message, 'error');
  }
}

forget.addEventListener('click', () => {
  apiKey.clear();
  askForKey();
});
window.addEventListener('hashchange', () => void show());
void show();
