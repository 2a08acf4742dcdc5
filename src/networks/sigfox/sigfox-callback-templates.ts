/**
 * The JSON bodies of the bridge's Sigfox callbacks, in Sigfox's `{variable}` syntax: `install`
 * creates its callbacks with them and the README shows them to paste by hand (its ```json
 * sigfox-<name> blocks must stay equal to these; a unit test checks). Values Sigfox may send as
 * `null` or `N/A` are quoted; the bridge reads numbers from text.
 */
export const SIGFOX_CALLBACK_TEMPLATES = {
  /** DATA, UPLINK or BIDIR, to `/data`. */
  data: '{"device":"{device}","time":{time},"data":"{data}","seqNumber":{seqNumber},"ack":{ack},"duplicate":{duplicate},"station":"{station}","rssi":"{rssi}","snr":"{snr}","avgSnr":"{avgSnr}","lat":"{lat}","lng":"{lng}","deviceTypeId":"{deviceTypeId}","linkQuality":"{linkQuality}"}',
  /** SERVICE STATUS, to `/service`. */
  status: '{"device":"{device}","time":{time},"temp":"{temp}","batt":"{batt}"}',
  /** SERVICE ACKNOWLEDGE, to `/service`. */
  acknowledge: '{"device":"{device}","time":{time},"downlinkAck":{downlinkAck},"infoCode":{infoCode},"infoMessage":"{infoMessage}"}',
  /** ERROR, to `/error`. */
  error: '{"device":"{device}","time":{time},"info":"{info}","severity":"{severity}"}',
} as const;

export type SigfoxCallbackTemplate = keyof typeof SIGFOX_CALLBACK_TEMPLATES;
