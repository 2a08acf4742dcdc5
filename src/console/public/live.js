// Live tail: events as the bridge publishes them, filtered by network, connection, device and type.
import { ApiError, listAll, readLive } from './api.js';
import { h, select } from './dom.js';

const TYPES = ['uplink', 'join', 'status', 'ack', 'location', 'error', 'downlink.queued', 'downlink.sent', 'downlink.acked', 'downlink.failed'];
const KEPT = 200;
const RECONNECT_MS = 2000;

export async function renderLive(container, { onError }) {
  const connections = await listAll('api/connections');
  const networks = [...new Set(connections.map((c) => c.network))].sort();
  const filters = { network: '', connectionId: '', deviceId: '', type: '' };
  const state = h('span', { class: 'badge', id: 'live-state' }, 'connecting');
  const list = h('ol', { class: 'events', 'aria-label': 'Events, newest first', 'aria-live': 'off' });
  const empty = h('p', { class: 'empty' }, 'Waiting for events…');
  let paused = false;
  let abort = new AbortController();
  let stopped = false;

  const setState = (text, kind) => {
    state.textContent = text;
    state.className = `badge badge-${kind}`;
  };

  const onEvent = (event) => {
    if (paused) return;
    empty.remove();
    list.prepend(eventItem(event, followDevice));
    while (list.children.length > KEPT) list.lastElementChild.remove();
  };

  const run = async () => {
    while (!stopped) {
      const query = new URLSearchParams(Object.entries(filters).filter(([, value]) => value));
      const signal = abort.signal;
      try {
        await readLive(query.size ? `?${query}` : '', signal, onEvent, () => setState('live', 'live'));
      } catch (failure) {
        if (signal.aborted) continue;
        if (failure instanceof ApiError) {
          // Refused (a bad filter, say): wait for the filters to change.
          setState('stopped', 'failed');
          onError(failure);
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          continue;
        }
      }
      if (signal.aborted || stopped) continue;
      setState('reconnecting', 'pending');
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  };

  const restart = () => {
    setState('connecting', 'pending');
    abort.abort();
    abort = new AbortController();
  };
  const change = (name) => (event) => {
    filters[name] = event.target.value.trim();
    restart();
  };
  const deviceInput = h('input', { name: 'deviceId', type: 'text', placeholder: 'device uuid', spellcheck: 'false', onchange: change('deviceId') });
  const followDevice = (deviceId) => {
    deviceInput.value = deviceId;
    filters.deviceId = deviceId;
    restart();
  };
  const pause = h('button', {
    type: 'button',
    class: 'secondary',
    'aria-pressed': 'false',
    onclick: () => {
      paused = !paused;
      pause.textContent = paused ? 'Resume' : 'Pause';
      pause.setAttribute('aria-pressed', String(paused));
    },
  }, 'Pause');

  container.append(
    h(
      'form',
      { class: 'filters', onsubmit: (event) => event.preventDefault() },
      select('Network', 'network', networks.map((n) => [n, n]), '', change('network')),
      select('Connection', 'connectionId', connections.map((c) => [c.id, c.id]), '', change('connectionId')),
      h('label', {}, 'Device id', deviceInput),
      select('Type', 'type', TYPES.map((t) => [t, t]), '', change('type')),
      h('div', { class: 'controls' }, state, pause, h('button', { type: 'button', class: 'secondary', onclick: () => list.replaceChildren() }, 'Clear')),
    ),
    empty,
    list,
  );
  void run();
  return () => {
    stopped = true;
    abort.abort();
  };
}

function eventItem(event, followDevice) {
  const uplink = event.uplink;
  const radio = event.radio;
  const summary = [
    h('time', { datetime: event.time, title: `received ${event.receivedAt}` }, new Date(event.time).toLocaleTimeString()),
    h('span', { class: `type type-${event.type.replace('.', '-')}` }, event.type),
    h('span', { class: 'muted' }, `${event.network} · ${event.connectionId}`),
    h('strong', {}, event.device.name ?? event.device.externalId),
    event.device.name ? h('code', {}, event.device.externalId) : null,
    uplink ? h('span', {}, `fcnt ${uplink.fcnt ?? '–'} · port ${uplink.port ?? '–'} · `, h('code', {}, uplink.payloadHex || '(empty)')) : null,
    radio && radio.rssi != null ? h('span', { class: 'muted' }, `${radio.rssi} dBm / ${radio.snr ?? '–'} dB`) : null,
    event.ack?.info ? h('span', { class: 'error-text' }, event.ack.info) : null,
  ];
  const follow = h('button', { type: 'button', class: 'secondary', onclick: () => followDevice(event.device.id) }, 'Only this device');
  return h('li', { 'data-event': event.id }, h('details', {}, h('summary', {}, summary), follow, h('pre', {}, JSON.stringify(event, null, 2))));
}
