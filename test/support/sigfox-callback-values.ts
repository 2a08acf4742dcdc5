/** What Sigfox puts in place of each {variable} of a callback body template. */
export const SIGFOX_CALLBACK_VALUES: Record<string, string> = {
  device: '7E57AB',
  time: '1700001000',
  data: '0102030405060708',
  seqNumber: '77',
  ack: 'false',
  duplicate: 'false',
  station: '37F1',
  rssi: '-121.00',
  snr: '9.50',
  avgSnr: 'N/A',
  lat: '43',
  lng: '6',
  deviceTypeId: '5f0c1a2b3c4d5e6f7a8b9c0d',
  linkQuality: 'GOOD',
  temp: '21.50',
  batt: '3.20',
  downlinkAck: 'false',
  infoCode: '1',
  infoMessage: 'No answer from the device',
  info: 'No message received since 2023-11-14',
  severity: 'ERROR',
};

/** A callback body as Sigfox sends it for `template`; unknown variables are left as they are. */
export function fillSigfoxTemplate(template: string): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => SIGFOX_CALLBACK_VALUES[name] ?? whole);
}
