/**
 * ChirpStack HTTP integration ingest: uplinks as JSON (ChirpStack's current shape) and as
 * Protobuf (application/octet-stream), each a new frame (its own deduplicationId), 2,000 devices,
 * three gateways each. ChirpStack waits 5 s for an answer and never retries.
 */
const { randomUUID } = require('node:crypto');
const common = require('@chirpstack/chirpstack-api/common/common_pb');
const gw = require('@chirpstack/chirpstack-api/gw/gw_pb');
const integration = require('@chirpstack/chirpstack-api/integration/integration_pb');
const { Timestamp } = require('google-protobuf/google/protobuf/timestamp_pb');

const APPLICATION_ID = '17c82e96-be03-4f38-aef3-f83d48582d97';
const SECONDS = Number(process.env.BENCH_CHIRPSTACK_SECONDS ?? 8);
const GATEWAYS = ['0016c001f153a14c', '7276ff000b030916', '6a1e3b228ae2a90c'];

function uplinkJson(devEui, fCnt, now) {
  return {
    deduplicationId: randomUUID(),
    time: `${now.toISOString().slice(0, 23)}123456+00:00`,
    deviceInfo: {
      tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242', tenantName: 'ChirpStack', applicationId: APPLICATION_ID, applicationName: 'bench',
      deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad', deviceProfileName: 'bench', deviceName: devEui, devEui, deviceClassEnabled: 'CLASS_A', tags: {},
    },
    devAddr: '00189440', adr: true, dr: 5, fCnt, fPort: 1, confirmed: false, data: 'AQIDBAUGBwg=',
    object: { temperature: 21.5, humidity: 40 },
    rxInfo: GATEWAYS.map((gatewayId, i) => ({ gatewayId, uplinkId: 1000 + i, rssi: -60 - i, snr: 9.2 - i, context: 'E3OWOQ==', crcStatus: 'CRC_OK' })),
    txInfo: { frequency: 868100000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5' } } },
    regionConfigId: 'eu868',
  };
}

function uplinkProtobuf(devEui, fCnt, now) {
  const event = new integration.UplinkEvent();
  event.setDeduplicationId(randomUUID());
  event.setTime(Timestamp.fromDate(now));
  const info = new integration.DeviceInfo();
  info.setApplicationId(APPLICATION_ID);
  info.setDeviceName(devEui);
  info.setDevEui(devEui);
  info.setDeviceClassEnabled(common.DeviceClass.CLASS_A);
  event.setDeviceInfo(info);
  event.setFCnt(fCnt);
  event.setFPort(1);
  event.setData(Buffer.from('0102030405060708', 'hex'));
  event.setRxInfoList(
    GATEWAYS.map((gatewayId, i) => {
      const rx = new gw.UplinkRxInfo();
      rx.setGatewayId(gatewayId);
      rx.setRssi(-60 - i);
      rx.setSnr(9.2 - i);
      return rx;
    }),
  );
  const lora = new gw.LoraModulationInfo();
  lora.setBandwidth(125000);
  lora.setSpreadingFactor(7);
  const modulation = new gw.Modulation();
  modulation.setLora(lora);
  const tx = new gw.UplinkTxInfo();
  tx.setFrequency(868100000);
  tx.setModulation(modulation);
  event.setTxInfo(tx);
  return Buffer.from(event.serializeBinary());
}

module.exports = {
  name: 'chirpstack',
  async run(lib) {
    const stack = await lib.startStack();
    try {
      const { ingestToken } = await lib.api('POST', '/api/connections', {
        id: 'bench-chirpstack', network: 'chirpstack', name: 'chirpstack', settings: { apiUrl: 'http://127.0.0.1:1', applicationId: APPLICATION_ID },
      });
      const rows = [];
      for (const [encoding, contentType, body] of [
        ['JSON', 'application/json', (devEui, fCnt, now) => JSON.stringify(uplinkJson(devEui, fCnt, now))],
        ['Protobuf', 'application/octet-stream', uplinkProtobuf],
      ]) {
        let counter = 0;
        let failures = 0;
        const result = await lib.cannon(
          {
            method: 'POST',
            path: `/ingest/chirpstack/bench-chirpstack?event=up&token=${ingestToken}`,
            headers: { 'content-type': contentType },
            setupRequest: (req) => {
              const n = counter++;
              return { ...req, body: body(lib.deviceEui(n % lib.DEVICES).toLowerCase(), Math.floor(n / lib.DEVICES), new Date()) };
            },
            onResponse: (status) => {
              if (status !== 200) failures++;
            },
          },
          { connections: 20, duration: SECONDS },
        );
        rows.push(
          { measure: `${encoding} uplinks accepted`, value: Math.round(result.requests.average), unit: 'req/s', target: null, met: null },
          { measure: `${encoding} ingest p99 (20 concurrent)`, value: result.latency.p99, unit: 'ms', target: 5000, met: result.latency.p99 < 5000 && failures === 0 },
        );
      }
      return rows;
    } finally {
      await stack.stop();
    }
  },
};
