// Connections: what each network sends to, whether it is receiving, and install / uninstall.
import { api, listAll } from './api.js';
import { ago, badge, h, say, table } from './dom.js';

export async function renderConnections(container, { onError, refresh }) {
  const connections = await listAll('api/connections');
  const [statuses, latest] = await Promise.all([
    Promise.all(connections.map((connection) => api('GET', `api/connections/${encodeURIComponent(connection.id)}/status`).catch(() => null))),
    // The newest stored event says whether a connection receives, whatever its network.
    Promise.all(connections.map((connection) => api('GET', `api/events?connectionId=${encodeURIComponent(connection.id)}&limit=1`).then((page) => page.data[0] ?? null, () => null))),
  ]);
  const rows = connections.map((connection, i) => row(connection, statuses[i], latest[i], refresh, onError));
  container.append(
    h('p', { class: 'hint' }, 'Point each network at its ingest URLs, or let the bridge do it with Install (Helium, Sigfox; TTS streams start by themselves).'),
    table('Connections', ['Connection', 'Network', 'Receiving', 'Ingest URLs', 'Install'], rows, 'No connections yet: create one with POST /api/connections (see /docs).'),
  );
}

function row(connection, status, lastEvent, refresh, onError) {
  const stream = status?.stream;
  return h(
    'tr',
    { 'data-connection': connection.id },
    h('th', { scope: 'row' }, h('span', { class: 'name' }, connection.name), h('br'), h('code', {}, connection.id)),
    h('td', {}, connection.network),
    h(
      'td',
      {},
      stream ? h('span', {}, 'stream ', badge(stream.state), stream.error ? h('span', { class: 'error-text' }, ` ${stream.error}`) : null) : null,
      h('div', { class: 'last-event' }, 'last event ', ago(lastEvent?.receivedAt ?? status?.lastEventAt)),
      status?.syncBacklog ? h('div', {}, `${status.syncBacklog} device(s) waiting to sync`) : null,
    ),
    h('td', { class: 'urls' }, Object.entries(connection.ingestUrls).map(([purpose, url]) => copyable(purpose, url))),
    h(
      'td',
      { class: 'actions' },
      h('button', { type: 'button', onclick: () => void install(connection, 'POST', refresh, onError) }, 'Install'),
      h('button', { type: 'button', class: 'secondary', onclick: () => void install(connection, 'DELETE', refresh, onError) }, 'Uninstall'),
    ),
  );
}

function copyable(purpose, url) {
  const input = h('input', { type: 'text', readonly: true, value: url, 'aria-label': `${purpose} ingest URL`, onfocus: (event) => event.target.select() });
  const copy = async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(url);
    } catch {
      // No clipboard API outside a secure context: the selected text copies with Ctrl+C.
      document.execCommand('copy');
    }
    say(`Copied the ${purpose} URL of ${url.split('/').at(-2) ?? ''}`);
  };
  return h('div', { class: 'copy' }, h('span', { class: 'muted' }, purpose), input, h('button', { type: 'button', class: 'secondary', onclick: () => void copy() }, 'Copy'));
}

async function install(connection, method, refresh, onError) {
  const verb = method === 'POST' ? 'Install' : 'Uninstall';
  const what = method === 'POST' ? `make ${connection.network} call this bridge for "${connection.id}" (replaces its ingest token)` : `remove what install made in ${connection.network} for "${connection.id}"`;
  if (!confirm(`${verb}: ${what}?`)) return;
  try {
    const result = await api(method, `api/connections/${encodeURIComponent(connection.id)}/install`);
    const items = (result.installed ?? result.removed ?? []).map((item) => `${item.kind} ${item.detail ?? item.id}`);
    say(`${verb}ed ${connection.id}: ${items.join(', ') || 'nothing to do'}${result.ingestToken ? `. New ingest token: ${result.ingestToken}` : ''}`);
    refresh();
  } catch (failure) {
    onError(failure);
  }
}
