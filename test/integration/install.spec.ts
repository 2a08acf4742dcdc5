import { randomBytes } from 'node:crypto';
import { FakeHelium, HELIUM_API_KEY } from '../fakes/fake-helium';
import { FakeSigfox, SIGFOX_DEVICE_TYPE_ID, SIGFOX_LOGIN, SIGFOX_PASSWORD } from '../fakes/fake-sigfox';
import { FakeTts, TTS_API_KEY } from '../fakes/fake-tts';
import { SIGFOX_CALLBACK_TEMPLATES } from '../../src/networks/sigfox/sigfox-callback-templates';
import { TestBridge } from '../support/bridge';
import { Json, randomEui } from '../support/networks';
import { fillSigfoxTemplate } from '../support/sigfox-callback-values';

/** What the networks are told to call; the test swaps it for the bridge's real address. */
const PUBLIC_URL = 'https://bridge.example.test/lpwan';

describe('POST/DELETE /api/connections/{id}/install', () => {
  const helium = new FakeHelium();
  const sigfox = new FakeSigfox();
  const tts = new FakeTts();
  let bridge: TestBridge;
  const run = randomBytes(3).toString('hex');
  const ids = { helium: `helium-${run}`, sigfox: `sigfox-${run}`, ttsStream: `tts-stream-${run}`, ttsWebhook: `tts-hook-${run}` };
  const tokens: Record<string, string> = {};
  const labelIds: string[] = [];

  /** Sends what a network would send to a URL it was given, with the headers it was given. */
  const callBridge = (url: string, headers: Record<string, string>, body: unknown) =>
    bridge.post(url.replace(PUBLIC_URL, ''), body, headers);
  const heliumUplink = () => helium.uplinkBody({ dev_eui: randomEui(), fcnt: Math.floor(Math.random() * 60000) });
  const install = (id: string) => bridge.api('POST', `/api/connections/${id}/install`);
  const uninstall = (id: string) => bridge.api('DELETE', `/api/connections/${id}/install`);
  const integrationName = `lpwan-bridge ${ids.helium}`;
  const bridgeCallbacks = () => sigfox.callbacks.get(SIGFOX_DEVICE_TYPE_ID)!.filter((c) => c.url?.startsWith(PUBLIC_URL));

  beforeAll(async () => {
    await Promise.all([helium.start(), sigfox.start(), tts.start()]);
    bridge = await TestBridge.start({ PUBLIC_URL: `${PUBLIC_URL}/` });
    for (const name of ['floor-1', 'floor-2']) {
      const response = await fetch(`${helium.baseUrl}/api/v1/labels`, {
        method: 'POST',
        headers: { key: HELIUM_API_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `${name}-${run}` }),
      });
      labelIds.push(((await response.json()) as Json).id);
    }
    tokens.helium = (
      await bridge.createConnection({ id: ids.helium, network: 'helium', settings: { baseUrl: helium.baseUrl, apiKey: HELIUM_API_KEY, labelIds } })
    ).ingestToken;
    tokens.sigfox = (
      await bridge.createConnection({
        id: ids.sigfox,
        network: 'sigfox',
        settings: { baseUrl: sigfox.baseUrl, login: SIGFOX_LOGIN, password: SIGFOX_PASSWORD, deviceTypeId: SIGFOX_DEVICE_TYPE_ID },
      })
    ).ingestToken;
    const ttsSettings = { baseUrl: tts.baseUrl, applicationId: 'app1', apiKey: TTS_API_KEY };
    tokens.ttsStream = (await bridge.createConnection({ id: ids.ttsStream, network: 'tts', settings: { ...ttsSettings, stream: true } })).ingestToken;
    await bridge.createConnection({ id: ids.ttsWebhook, network: 'tts', settings: ttsSettings });
  });

  afterAll(async () => {
    await bridge.stop();
    await Promise.all([helium.stop(), sigfox.stop(), tts.stop()]);
  });

  describe('Helium', () => {
    let installed: Json;

    it('creates one HTTP integration to the ingest URL with the token header, and a flow from each label', async () => {
      helium.clear();
      const response = await install(ids.helium);
      expect(response.status).toBe(200);
      installed = await response.json();

      const url = `${PUBLIC_URL}/ingest/helium/${ids.helium}`;
      expect(installed).toEqual({
        network: 'helium',
        installed: [
          { kind: 'integration', id: expect.any(String), url, detail: integrationName },
          { kind: 'flow', id: expect.any(String), detail: `from label ${labelIds[0]}` },
          { kind: 'flow', id: expect.any(String), detail: `from label ${labelIds[1]}` },
        ],
        ingestToken: expect.stringMatching(/^ing_/),
      });
      expect(installed.ingestToken).not.toBe(tokens.helium);

      const writes = helium.requests.filter((r) => r.method !== 'GET');
      expect(writes.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/v1/integrations', 'POST /api/v1/flows', 'POST /api/v1/flows']);
      expect(writes[0].body).toEqual({ type: 'http', name: integrationName, endpoint: url, method: 'post', headers: { 'x-bridge-token': installed.ingestToken } });
      expect(writes.slice(1).map((r) => r.body)).toEqual(labelIds.map((label_id) => ({ integration_id: installed.installed[0].id, label_id })));
      expect(helium.requests.every((r) => r.headers.key === HELIUM_API_KEY)).toBe(true);

      expect([...helium.integrations.values()].map((i) => i.name)).toEqual([integrationName]);
      expect([...helium.flows.values()].map((f) => [f.integration_id, f.label_id])).toEqual(labelIds.map((label) => [installed.installed[0].id, label]));
    });

    it('the integration as Console holds it reaches the bridge; the old token no longer does', async () => {
      const { credentials } = [...helium.integrations.values()][0];
      const headers = credentials.headers as Record<string, string>;
      expect((await callBridge(credentials.endpoint as string, headers, heliumUplink())).status).toBe(200);
      expect((await callBridge(credentials.endpoint as string, { 'x-bridge-token': tokens.helium }, heliumUplink())).status).toBe(401);
    });

    it('installing again replaces the integration: still one, with a flow per label, and a new token', async () => {
      const response = await install(ids.helium);
      expect(response.status).toBe(200);
      const again: Json = await response.json();
      expect(again.ingestToken).not.toBe(installed.ingestToken);
      expect(helium.integrations.size).toBe(1);
      const [integration] = helium.integrations.values();
      expect(integration.id).toBe(again.installed[0].id);
      expect(helium.integrations.has(installed.installed[0].id)).toBe(false);
      expect([...helium.flows.values()].map((f) => [f.integration_id, f.label_id])).toEqual(labelIds.map((label) => [integration.id, label]));
      expect((integration.credentials.headers as Record<string, string>)['x-bridge-token']).toBe(again.ingestToken);

      expect((await callBridge(integration.credentials.endpoint as string, { 'x-bridge-token': again.ingestToken }, heliumUplink())).status).toBe(200);
      expect((await callBridge(integration.credentials.endpoint as string, { 'x-bridge-token': installed.ingestToken }, heliumUplink())).status).toBe(401);
      installed = again;
    });

    it('uninstall removes the integration and its flows and keeps the token; uninstalling again is fine', async () => {
      const response = await uninstall(ids.helium);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        network: 'helium',
        removed: [
          { kind: 'integration', id: installed.installed[0].id, url: installed.installed[0].url, detail: integrationName },
          ...installed.installed.slice(1).map((flow: Json) => ({ kind: 'flow', id: flow.id, detail: flow.detail })),
        ],
      });
      expect(helium.integrations.size).toBe(0);
      expect(helium.flows.size).toBe(0);
      expect((await bridge.post(`/ingest/helium/${ids.helium}`, heliumUplink(), { 'x-bridge-token': installed.ingestToken })).status).toBe(200);

      const again = await uninstall(ids.helium);
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ network: 'helium', removed: [] });
    });

    it("a refusal part-way is a 502 with Console's message; what was made is removed and the token kept", async () => {
      helium.failNext({ method: 'POST', path: /^\/api\/v1\/flows$/, status: 404, body: { errors: { error: ['Label not found'] } } });
      const response = await install(ids.helium);
      expect(response.status).toBe(502);
      expect(await response.json()).toEqual({ statusCode: 502, error: 'Bad Gateway', message: 'install on helium failed: HTTP 404: Label not found' });
      expect(helium.integrations.size).toBe(0);
      expect(helium.flows.size).toBe(0);
      expect((await bridge.post(`/ingest/helium/${ids.helium}`, heliumUplink(), { 'x-bridge-token': installed.ingestToken })).status).toBe(200);
    });

    it('Console unreachable is a 503', async () => {
      helium.failNext({ method: 'GET', path: /^\/api\/v1\/integrations$/, status: 0, reset: true });
      const response = await install(ids.helium);
      expect(response.status).toBe(503);
      expect(((await response.json()) as Json).message).toMatch(/^install on helium failed: GET \/api\/v1\/integrations: /);
    });
  });

  describe('Sigfox', () => {
    let installed: Json;
    const foreign = { channel: 'URL', callbackType: 0, callbackSubtype: 2, url: 'https://elsewhere.example.com/sigfox', httpMethod: 'POST' };

    beforeAll(async () => {
      // A callback the user made for another system: install and uninstall leave it alone.
      const response = await fetch(`${sigfox.baseUrl}/v2/device-types/${SIGFOX_DEVICE_TYPE_ID}/callbacks`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${SIGFOX_LOGIN}:${SIGFOX_PASSWORD}`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify(foreign),
      });
      expect(response.status).toBe(201);
    });

    it('creates the DATA BIDIR, SERVICE STATUS and ACKNOWLEDGE and ERROR callbacks as the README shows, BIDIR for downlinks', async () => {
      sigfox.clear();
      const response = await install(ids.sigfox);
      expect(response.status).toBe(200);
      installed = await response.json();
      const base = `${PUBLIC_URL}/ingest/sigfox/${ids.sigfox}`;
      expect(installed).toEqual({
        network: 'sigfox',
        installed: [
          { kind: 'callback', id: expect.any(String), url: `${base}/data`, detail: 'DATA BIDIR' },
          { kind: 'callback', id: expect.any(String), url: `${base}/service`, detail: 'SERVICE STATUS' },
          { kind: 'callback', id: expect.any(String), url: `${base}/service`, detail: 'SERVICE ACKNOWLEDGE' },
          { kind: 'callback', id: expect.any(String), url: `${base}/error`, detail: 'ERROR' },
        ],
        ingestToken: expect.stringMatching(/^ing_/),
        note: "downlinks need the device type's downlink mode set to CALLBACK in the Sigfox backend",
      });

      const basic = `Basic ${Buffer.from(`${SIGFOX_LOGIN}:${SIGFOX_PASSWORD}`).toString('base64')}`;
      expect(sigfox.requests.every((r) => r.headers.authorization === basic)).toBe(true);
      const creates = sigfox.requests.filter((r) => r.method === 'POST');
      expect(creates.map((r) => r.path)).toEqual(Array(4).fill(`/v2/device-types/${SIGFOX_DEVICE_TYPE_ID}/callbacks`));
      const common = {
        channel: 'URL',
        httpMethod: 'POST',
        contentType: 'application/json',
        headers: { 'x-bridge-token': installed.ingestToken },
        enabled: true,
        sendDuplicate: false,
        sendSni: true,
      };
      expect(creates.map((r) => r.body)).toEqual([
        { ...common, callbackType: 0, callbackSubtype: 3, url: `${base}/data`, bodyTemplate: SIGFOX_CALLBACK_TEMPLATES.data },
        { ...common, callbackType: 1, callbackSubtype: 0, url: `${base}/service`, bodyTemplate: SIGFOX_CALLBACK_TEMPLATES.status },
        { ...common, callbackType: 1, callbackSubtype: 4, url: `${base}/service`, bodyTemplate: SIGFOX_CALLBACK_TEMPLATES.acknowledge },
        { ...common, callbackType: 2, callbackSubtype: 0, url: `${base}/error`, bodyTemplate: SIGFOX_CALLBACK_TEMPLATES.error },
      ]);
      const bidir = installed.installed[0].id;
      expect(sigfox.requests.filter((r) => r.method === 'PUT').map((r) => r.path)).toEqual([`/v2/device-types/${SIGFOX_DEVICE_TYPE_ID}/callbacks/${bidir}/downlink`]);
      expect(bridgeCallbacks().map((c) => [c.id, c.downlinkHook])).toEqual(installed.installed.map((c: Json) => [c.id, c.id === bidir]));
    });

    it('each callback as Sigfox holds it reaches the bridge', async () => {
      for (const callback of bridgeCallbacks()) {
        const body = fillSigfoxTemplate(callback.bodyTemplate!);
        const response = await callBridge(callback.url!, callback.headers!, body);
        expect([callback.url, response.status]).toEqual([callback.url, 200]);
      }
      expect((await callBridge(bridgeCallbacks()[0].url!, { 'x-bridge-token': tokens.sigfox }, {})).status).toBe(401);
    });

    it("installing again replaces the four callbacks and keeps the user's own", async () => {
      const response = await install(ids.sigfox);
      expect(response.status).toBe(200);
      const again: Json = await response.json();
      const callbacks = bridgeCallbacks();
      expect(callbacks.map((c) => c.id)).toEqual(again.installed.map((c: Json) => c.id));
      expect(callbacks.every((c) => c.headers!['x-bridge-token'] === again.ingestToken)).toBe(true);
      expect(callbacks.filter((c) => installed.installed.some((old: Json) => old.id === c.id))).toEqual([]);
      expect(sigfox.callbacks.get(SIGFOX_DEVICE_TYPE_ID)!.filter((c) => c.url === foreign.url)).toHaveLength(1);
      installed = again;
    });

    it("uninstall removes only the bridge's callbacks; uninstalling again is fine", async () => {
      const response = await uninstall(ids.sigfox);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ network: 'sigfox', removed: installed.installed });
      expect(bridgeCallbacks()).toEqual([]);
      expect(sigfox.callbacks.get(SIGFOX_DEVICE_TYPE_ID)!.map((c) => c.url)).toEqual([foreign.url]);
      expect(await (await uninstall(ids.sigfox)).json()).toEqual({ network: 'sigfox', removed: [] });
    });

    it("a refusal part-way is a 502 with Sigfox's message; the callbacks made are removed", async () => {
      // The four callbacks are made, then selecting the BIDIR one for downlinks is refused.
      sigfox.clear();
      sigfox.failNext({ method: 'PUT', path: /\/downlink$/, status: 400, body: { message: 'Invalid callback', errors: [{ field: 'downlinkHook', message: 'not allowed' }] } });
      const response = await install(ids.sigfox);
      expect(response.status).toBe(502);
      expect(((await response.json()) as Json).message).toBe('install on sigfox failed: HTTP 400: Invalid callback: downlinkHook not allowed');
      expect(sigfox.requests.filter((r) => r.method === 'DELETE')).toHaveLength(4);
      expect(bridgeCallbacks()).toEqual([]);
    });

    it('an unknown device type is a 502 before anything changes; Sigfox unreachable is a 503', async () => {
      sigfox.failNext({ method: 'GET', path: /^\/v2\/device-types\/[^/]+$/, status: 404, body: { message: 'Device type not found' } });
      const missing = await install(ids.sigfox);
      expect(missing.status).toBe(502);
      expect(((await missing.json()) as Json).message).toBe('install on sigfox failed: HTTP 404: Device type not found');

      sigfox.failNext({ method: 'GET', status: 0, reset: true });
      const down = await uninstall(ids.sigfox);
      expect(down.status).toBe(503);
      expect(bridgeCallbacks()).toEqual([]);
    });
  });

  describe('The Things Stack', () => {
    it('with the stream there is nothing to install, and the token is kept', async () => {
      tts.clear();
      const response = await install(ids.ttsStream);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ network: 'tts', installed: [], note: expect.stringContaining('nothing to install') });
      expect(tts.requests.filter((r) => r.path !== '/api/v3/events')).toEqual([]);
      expect((await bridge.post(`/ingest/tts/${ids.ttsStream}`, {}, { 'x-bridge-token': tokens.ttsStream })).status).not.toBe(401);
      expect(await (await uninstall(ids.ttsStream)).json()).toEqual({ network: 'tts', removed: [] });
    });

    it('without the stream install is refused with what to do instead', async () => {
      const response = await install(ids.ttsWebhook);
      expect(response.status).toBe(400);
      expect(((await response.json()) as Json).message).toMatch(/does not create TTS webhooks: set settings.stream to true .* custom webhook/);
      expect((await uninstall(ids.ttsWebhook)).status).toBe(200);
    });
  });

  describe('the API around it', () => {
    it('needs the API key', async () => {
      for (const method of ['POST', 'DELETE']) {
        const response = await fetch(`${bridge.url}/api/connections/${ids.helium}/install`, { method });
        expect(response.status).toBe(401);
      }
      expect(helium.integrations.size).toBe(0);
    });

    it('answers 404 for an unknown connection and 400 when the credentials are missing', async () => {
      expect((await install('no-such-connection')).status).toBe(404);
      expect((await uninstall('No Such!')).status).toBe(404);
      const bare = `helium-bare-${run}`;
      await bridge.createConnection({ id: bare, network: 'helium', settings: { baseUrl: helium.baseUrl } });
      const response = await install(bare);
      expect(response.status).toBe(400);
      expect(((await response.json()) as Json).message).toBe(`connection "${bare}" cannot be installed: settings.apiKey (a Console API key) is required to install the integration`);
    });

    it('is documented in /docs', async () => {
      const document: Json = await (await bridge.api('GET', '/docs-json')).json();
      expect(Object.keys(document.paths['/api/connections/{id}/install']).sort()).toEqual(['delete', 'post']);
    });
  });
});
