// Webhooks: each subscription and its failed deliveries, each with a retry.
import { api, listAll } from './api.js';
import { ago, badge, h, say, table } from './dom.js';

export async function renderWebhooks(container, { onError, refresh }) {
  const webhooks = await listAll('api/webhooks');
  if (webhooks.length === 0) {
    container.append(h('p', { class: 'empty' }, 'No webhooks: subscribe one with POST /api/webhooks (see /docs).'));
    return;
  }
  const failed = await Promise.all(webhooks.map((webhook) => listAll(`api/webhooks/${webhook.id}/deliveries?status=failed`, 200)));
  webhooks.forEach((webhook, i) => {
    container.append(
      h(
        'article',
        { class: 'webhook', 'data-webhook': webhook.id },
        h('h2', {}, h('code', {}, webhook.url)),
        h(
          'p',
          {},
          webhook.active ? badge('active', 'succeeded') : badge('paused', 'pending'),
          ` ${webhook.events.join(', ')}`,
          webhook.networks.length ? ` · networks ${webhook.networks.join(', ')}` : '',
          webhook.connectionIds.length ? ` · connections ${webhook.connectionIds.join(', ')}` : '',
        ),
        table(
          `Failed deliveries of ${webhook.url}`,
          ['Event', 'Attempts', 'Last answer', 'Created', ''],
          failed[i].map((delivery) => deliveryRow(webhook, delivery, refresh, onError)),
          'No failed deliveries.',
        ),
      ),
    );
  });
}

function deliveryRow(webhook, delivery, refresh, onError) {
  const retry = async (button) => {
    button.disabled = true;
    try {
      const again = await api('POST', `api/webhooks/${webhook.id}/deliveries/${delivery.id}/retry`);
      say(`Delivery of event ${delivery.eventId} sent again (${again.status}).`);
      refresh();
    } catch (failure) {
      button.disabled = false;
      onError(failure);
    }
  };
  return h(
    'tr',
    { 'data-delivery': delivery.id },
    h('th', { scope: 'row' }, h('code', {}, delivery.eventId)),
    h('td', {}, String(delivery.attempts)),
    h('td', {}, delivery.lastStatusCode ? `HTTP ${delivery.lastStatusCode}` : '', delivery.lastError ? h('div', { class: 'error-text' }, delivery.lastError) : null),
    h('td', {}, ago(delivery.createdAt)),
    h('td', {}, h('button', { type: 'button', onclick: (event) => void retry(event.currentTarget) }, 'Retry')),
  );
}
