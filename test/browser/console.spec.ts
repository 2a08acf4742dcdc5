import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import { FakeHelium, HELIUM_API_KEY } from '../fakes/fake-helium';
import heliumUplink from '../fixtures/helium-uplink.json';
import { launchBrowser } from '../support/browser';
import { TestBridge } from '../support/bridge';
import { TEST_API_KEY } from '../support/env';
import { eventually } from '../support/mqtt-collector';

// What the page.evaluate callbacks below read in the browser (the tests compile without the DOM types).
declare const sessionStorage: { length: number };
declare const document: { documentElement: { scrollWidth: number }; activeElement: { textContent: string | null } | null };
declare const window: { innerWidth: number };

/** The console in a real Chromium against a real bridge: each view, the key prompt, live tail, retry. */
describe('the console in a browser', () => {
  let bridge: TestBridge;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let context: BrowserContext;
  let page: Page;
  const run = randomBytes(3).toString('hex');
  const connectionId = `helium-ui-${run}`;
  let token: string;
  let fcnt = 500;

  beforeAll(async () => {
    bridge = await TestBridge.start({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_RETRY_WINDOW_MS: '300' });
    token = (await bridge.createConnection({ id: connectionId, network: 'helium', name: 'Helium UI' })).ingestToken;
    browser = await launchBrowser();
    context = browser.context;
    page = await context.newPage();
  }, 60_000);

  afterAll(async () => {
    // The browser first: its open connections would hold the bridge's close.
    await browser?.close();
    await bridge?.stop();
  });

  const ingestUplink = async () => {
    const count = fcnt++;
    const response = await bridge.post(`/ingest/helium/${connectionId}`, { ...heliumUplink, id: randomUUID(), fcnt: count, reported_at: Date.now() }, { 'x-bridge-token': token });
    expect(response.status).toBe(200);
    return count;
  };

  const signIn = async () => {
    await page.goto(bridge.url + '/');
    if (await page.locator('#key').isVisible()) {
      await page.fill('#key', TEST_API_KEY);
      await page.keyboard.press('Enter');
    }
    await page.locator('nav').waitFor();
  };

  it('asks for the API key once, refuses a wrong one, and keeps it for the tab', async () => {
    const response = await page.goto(bridge.url + '/');
    expect(response?.headers()['cache-control']).toBe('no-cache');
    await page.locator('h1', { hasText: 'Sign in' }).waitFor();
    // The key field has the focus: typing and Enter is all it takes.
    await page.keyboard.type('wrong-key');
    await page.keyboard.press('Enter');
    await page.locator('.error', { hasText: 'This key was refused.' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

    await page.fill('#key', TEST_API_KEY);
    await page.keyboard.press('Enter');
    await page.locator('h1', { hasText: 'Connections' }).waitFor();
    expect(page.url()).toMatch(/#\/connections$/);

    await page.reload();
    await page.locator('h1', { hasText: 'Connections' }).waitFor();
    expect(await page.locator('#key').count()).toBe(0);

    await page.click('#forget');
    await page.locator('h1', { hasText: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it('serves its scripts under content-hashed names with a long cache, and no CDN', async () => {
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await signIn();
    const assets = requests.filter((url) => url.includes('/console/'));
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const url of assets) expect(url).toMatch(/\/console\/[\w-]+\.[0-9a-f]{12}\.(js|css)$/);
    for (const url of requests) expect(url.startsWith(bridge.url)).toBe(true);
    const asset = await fetch(assets[0]);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    page.removeAllListeners('request');
  });

  it('lists connections with their ingest URLs to copy and their install buttons', async () => {
    await signIn();
    await page.goto(bridge.url + '/#/connections');
    const row = page.locator(`tr[data-connection="${connectionId}"]`);
    await row.waitFor();
    expect(await row.locator('th').innerText()).toContain('Helium UI');
    expect(await row.locator('td').nth(0).innerText()).toBe('helium');
    expect(await row.locator('input').first().inputValue()).toMatch(new RegExp(`/ingest/helium/${connectionId}$`));
    expect(await row.locator('.last-event').innerText()).toBe('last event never');
    await ingestUplink();
    await page.reload();
    await row.locator('.last-event', { hasText: /last event \d+ s ago/ }).waitFor();
    expect(await row.getByRole('button', { name: 'Install', exact: true }).isVisible()).toBe(true);
    expect(await row.getByRole('button', { name: 'Uninstall', exact: true }).isVisible()).toBe(true);

    // Install refused by the network (no Helium API key): the bridge's message is shown, nothing breaks.
    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: 'Install', exact: true }).click();
    await page.locator('#status.error').waitFor();
    expect((await page.locator('#status').innerText()).length).toBeGreaterThan(0);
  });

  it('installs a connection into its network and uninstalls it', async () => {
    const helium = new FakeHelium();
    await helium.start();
    try {
      const id = `helium-install-${run}`;
      await bridge.createConnection({ id, network: 'helium', settings: { baseUrl: helium.baseUrl, apiKey: HELIUM_API_KEY } });
      await signIn();
      await page.goto(bridge.url + '/#/connections');
      const row = page.locator(`tr[data-connection="${id}"]`);
      await row.waitFor();

      page.once('dialog', (dialog) => void dialog.accept());
      await row.getByRole('button', { name: 'Install', exact: true }).click();
      await page.locator('#status', { hasText: `Installed ${id}: integration` }).waitFor();
      expect(await page.locator('#status').innerText()).toMatch(/New ingest token: ing_/);
      expect(helium.integrations.size).toBe(1);

      // Dismissed, nothing happens.
      page.once('dialog', (dialog) => void dialog.dismiss());
      await page.locator(`tr[data-connection="${id}"]`).getByRole('button', { name: 'Uninstall', exact: true }).click();
      expect(helium.integrations.size).toBe(1);

      page.once('dialog', (dialog) => void dialog.accept());
      await page.locator(`tr[data-connection="${id}"]`).getByRole('button', { name: 'Uninstall', exact: true }).click();
      await page.locator('#status', { hasText: `Uninstalled ${id}: integration` }).waitFor();
      expect(helium.integrations.size).toBe(0);
    } finally {
      await helium.stop();
    }
  });

  it('lists devices with sync state, last seen, RSSI/SNR and battery, and the silent ones on request', async () => {
    const helium = new FakeHelium();
    await helium.start();
    try {
      // Heard from: an uplink on Helium (RSSI -57, SNR 12.5), a Sigfox status with its battery.
      const count = await ingestUplink();
      const sigfoxId = `sigfox-ui-${run}`;
      const sigfoxToken = (await bridge.createConnection({ id: sigfoxId, network: 'sigfox' })).ingestToken;
      const status = await fetch(`${bridge.url}/ingest/sigfox/${sigfoxId}/service`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-bridge-token': sigfoxToken },
        body: new URLSearchParams({ device: '7E57AB', time: String(Math.floor(Date.now() / 1000)), temp: '21.5', batt: '3.2' }).toString(),
      });
      expect(status.status).toBe(200);
      // Never heard from: registered here and provisioned into (fake) Helium.
      const provisioned = `helium-prov-${run}`;
      await bridge.createConnection({ id: provisioned, network: 'helium', settings: { baseUrl: helium.baseUrl, apiKey: HELIUM_API_KEY } });
      const registered = await bridge.api('POST', '/api/devices', { connectionId: provisioned, name: 'Quiet one', devEui: '70B3D57ED0000001', joinEui: '70B3D57ED0008E64', appKey: '30EACA8A2CAF0C5315D0E4A1B7F7B55B' });
      expect(registered.status).toBe(201);

      await signIn();
      await page.goto(bridge.url + '/#/devices');
      // A full test run leaves more devices in its database than one page shows: look per connection.
      const heliumRow = page.locator('tr').filter({ hasText: '008000000401261D' }).filter({ hasText: connectionId });
      const sigfoxRow = page.locator('tr').filter({ hasText: sigfoxId });
      const shown = async (connection: string, row: typeof heliumRow, cell: string) => {
        await page.selectOption('select[name="connectionId"]', connection);
        await row.waitFor();
        return row.locator(cell).innerText();
      };
      await eventually('the coalesced device state', async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        return [await shown(connectionId, heliumRow, '.radio'), await shown(sigfoxId, sigfoxRow, '.battery')];
      }, ([radio, battery]) => radio.includes('-57 dBm / 12.5 dB') && battery.includes('3.2 V'));
      await page.selectOption('select[name="connectionId"]', connectionId);
      await heliumRow.waitFor();
      expect(await heliumRow.locator('.last-seen').innerText()).toMatch(new RegExp(`\\d+ s ago\\s+fcnt ${count}`));
      expect(await heliumRow.locator('.badge').innerText()).toBe('none');
      await page.selectOption('select[name="connectionId"]', provisioned);
      const quiet = page.locator('tr', { hasText: '70B3D57ED0000001' });
      await quiet.waitFor();
      expect(await quiet.locator('.last-seen').innerText()).toBe('never');
      expect(await quiet.locator('.badge').innerText()).toMatch(/^(pending|synced)$/);

      // Silent for more than an hour: the never-seen device, not the ones just heard.
      await page.selectOption('select[name="silentFor"]', '3600');
      await page.locator('caption', { hasText: 'Silent devices' }).waitFor({ state: 'attached' });
      await quiet.waitFor();
      for (const heard of [connectionId, sigfoxId]) {
        await page.selectOption('select[name="connectionId"]', heard);
        await page.locator('.empty', { hasText: 'No silent devices' }).waitFor();
      }
    } finally {
      await helium.stop();
    }
  });

  it('tails live events: an uplink shows within seconds, and filters apply', async () => {
    await signIn();
    await page.goto(bridge.url + '/#/live');
    await page.locator('#live-state', { hasText: 'live' }).waitFor();
    const count = await ingestUplink();
    const item = page.locator('.events li', { hasText: `fcnt ${count}` });
    await item.waitFor({ timeout: 5000 });
    expect(await item.innerText()).toContain('uplink');
    expect(await item.innerText()).toContain('0a1b2c');
    // Opened with Enter, it shows the whole event.
    await item.locator('summary').focus();
    await page.keyboard.press('Enter');
    const shown = JSON.parse(await item.locator('pre').innerText());
    expect(shown).toMatchObject({ type: 'uplink', connectionId, uplink: { fcnt: count } });
    // "Only this device" filters the tail by its device.
    await item.getByRole('button', { name: 'Only this device' }).click();
    expect(await page.inputValue('input[name="deviceId"]')).toBe(shown.device.id);
    await page.locator('#live-state', { hasText: 'live' }).waitFor();
    const followed = await ingestUplink();
    await page.locator('.events li', { hasText: `fcnt ${followed}` }).waitFor({ timeout: 5000 });
    await page.fill('input[name="deviceId"]', '');
    await page.keyboard.press('Tab');

    await page.selectOption('select[name="connectionId"]', connectionId);
    await page.selectOption('select[name="type"]', 'uplink');
    await page.locator('#live-state', { hasText: 'live' }).waitFor();
    const filtered = await ingestUplink();
    await page.locator('.events li', { hasText: `fcnt ${filtered}` }).waitFor({ timeout: 5000 });

    // A bad device id is the bridge's 400, shown; the tail waits for a better filter.
    await page.fill('input[name="deviceId"]', 'not-a-uuid');
    await page.keyboard.press('Tab');
    await page.locator('#status.error', { hasText: 'deviceId' }).waitFor();
    await page.fill('input[name="deviceId"]', '');
    await page.keyboard.press('Tab');
    await page.locator('#live-state', { hasText: 'live' }).waitFor();
  });

  it('shows failed webhook deliveries and retries one', async () => {
    let status = 500;
    const received: string[] = [];
    const receiver: Server = createServer((req, res) => {
      received.push(String(req.headers['webhook-id']));
      req.resume();
      req.on('end', () => res.writeHead(status).end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const webhook = (await (await bridge.api('POST', '/api/webhooks', { url, events: ['uplink'], connectionIds: [connectionId] })).json()) as { id: string };
      await ingestUplink();
      const deliveries = async (query: string) => ((await (await bridge.api('GET', `/api/webhooks/${webhook.id}/deliveries${query}`)).json()) as { data: Array<{ id: string; status: string }> }).data;
      const [failed] = await eventually('a failed delivery', () => deliveries('?status=failed'), (list) => list.length === 1, 15_000);

      await signIn();
      await page.goto(bridge.url + '/#/webhooks');
      const row = page.locator(`tr[data-delivery="${failed.id}"]`);
      await row.waitFor();
      expect(await row.innerText()).toContain('HTTP 500');

      status = 204;
      await row.getByRole('button', { name: 'Retry' }).click();
      await page.locator('#status', { hasText: 'sent again' }).waitFor();
      await eventually('the retried delivery to succeed', () => deliveries(''), (list) => list.find((d) => d.id === failed.id)?.status === 'succeeded');
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.locator(`article[data-webhook="${webhook.id}"] .empty`, { hasText: 'No failed deliveries.' }).waitFor();
      await bridge.api('DELETE', `/api/webhooks/${webhook.id}`);
    } finally {
      receiver.closeAllConnections();
      await new Promise((resolve) => receiver.close(resolve));
    }
  }, 60_000);

  it('fits a phone screen and is driven from the keyboard', async () => {
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 375, height: 740 });
    // A new tab asks for the key again (it is kept per tab).
    await phone.goto(bridge.url + '/#/connections');
    await phone.fill('#key', TEST_API_KEY);
    await phone.keyboard.press('Enter');
    await phone.locator('nav').waitFor();
    for (const view of ['connections', 'devices', 'live', 'webhooks']) {
      await phone.goto(`${bridge.url}/#/${view}`);
      await phone.locator('main h1').waitFor();
      // Wide tables scroll inside their own box; the page itself does not scroll sideways.
      expect(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    }
    // From the top of the page: Tab passes the skip link, reaches the views' links; Enter follows one.
    await phone.goto(bridge.url + '/#/connections');
    await phone.reload();
    await phone.locator('main h1', { hasText: 'Connections' }).waitFor();
    await phone.keyboard.press('Tab');
    await phone.keyboard.press('Tab');
    await phone.keyboard.press('Tab');
    expect(await phone.evaluate(() => document.activeElement?.textContent)).toBe('Devices');
    await phone.keyboard.press('Enter');
    await phone.locator('main h1', { hasText: 'Devices' }).waitFor();
    await phone.close();
  });
});
