// Devices: provisioning sync, and what was last heard of each; silent ones on request.
import { api, listAll } from './api.js';
import { ago, badge, h, select, table } from './dom.js';

const SILENCES = [
  ['3600', 'more than 1 h'],
  ['21600', 'more than 6 h'],
  ['86400', 'more than 24 h'],
  ['604800', 'more than 7 days'],
];

export async function renderDevices(container, { onError }) {
  const connections = await listAll('api/connections');
  const filters = { connectionId: '', silentFor: '' };
  const results = h('div', { class: 'results' });

  const load = async (cursor) => {
    const query = new URLSearchParams({ limit: '100' });
    if (filters.connectionId) query.set('connectionId', filters.connectionId);
    if (filters.silentFor) {
      query.set('seenBefore', new Date(Date.now() - Number(filters.silentFor) * 1000).toISOString());
      query.set('neverSeen', 'true');
    }
    if (cursor) query.set('cursor', cursor);
    const page = await api('GET', `api/devices?${query}`);
    const rows = page.data.map(row);
    const more = page.nextCursor ? h('button', { type: 'button', class: 'secondary', onclick: (event) => void loadMore(event.target, page.nextCursor) }, 'More devices') : null;
    if (cursor) {
      results.querySelector('tbody')?.append(...rows);
      if (more) results.append(more);
    } else {
      const empty = filters.silentFor ? 'No silent devices: every device was heard from within that time.' : 'No devices.';
      results.replaceChildren(table(filters.silentFor ? 'Silent devices (never seen included)' : 'Devices', ['Device', 'Network', 'Sync', 'Last seen', 'RSSI / SNR', 'Battery'], rows, empty), more ?? '');
    }
  };
  const loadMore = async (button, cursor) => {
    button.remove();
    await load(cursor).catch(onError);
  };
  const change = (name) => (event) => {
    filters[name] = event.target.value;
    void load().catch(onError);
  };

  container.append(
    h(
      'form',
      { class: 'filters', onsubmit: (event) => event.preventDefault() },
      select('Connection', 'connectionId', connections.map((c) => [c.id, c.name === c.id ? c.id : `${c.name} (${c.id})`]), '', change('connectionId')),
      select('Silent for', 'silentFor', SILENCES, '', change('silentFor'), 'show all devices'),
    ),
    results,
  );
  await load();
}

function row(device) {
  const uplink = device.lastUplink;
  const battery = device.battery;
  return h(
    'tr',
    { 'data-device': device.id },
    h('th', { scope: 'row' }, device.name ? h('span', { class: 'name' }, device.name) : null, device.name ? h('br') : null, h('code', {}, device.externalId)),
    h('td', {}, device.network, h('br'), h('span', { class: 'muted' }, device.connectionId)),
    h('td', {}, badge(device.sync.state), device.sync.error ? h('div', { class: 'error-text' }, device.sync.error) : null),
    h('td', { class: 'last-seen' }, ago(device.lastSeenAt), uplink?.fcnt != null ? h('div', { class: 'muted' }, `fcnt ${uplink.fcnt}`) : null),
    h(
      'td',
      { class: 'radio' },
      uplink ? `${uplink.rssi ?? '–'} dBm / ${uplink.snr ?? '–'} dB` : h('span', { class: 'muted' }, '–'),
      uplink?.gatewayCount ? h('div', { class: 'muted' }, `${uplink.gatewayCount} gateway(s)`) : null,
    ),
    h(
      'td',
      { class: 'battery' },
      battery ? [battery.volts != null ? `${battery.volts} V` : null, battery.volts != null && battery.percent != null ? ' · ' : null, battery.percent != null ? `${battery.percent} %` : null] : h('span', { class: 'muted' }, '–'),
    ),
  );
}
