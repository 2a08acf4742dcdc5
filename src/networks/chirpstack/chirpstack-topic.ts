/** ChirpStack's default `[integration.mqtt] event_topic`. */
export const DEFAULT_EVENT_TOPIC = 'application/{{application_id}}/device/{{dev_eui}}/event/{{event}}';

const PLACEHOLDER = /\{\{\s*(\w+)\s*\}\}/g;

/** What is wrong with an `eventTopic` template, or null. */
export function eventTopicProblem(template: string): string | null {
  const names = [...template.matchAll(PLACEHOLDER)].map((match) => match[1]);
  if (names.filter((name) => name === 'event').length !== 1) return 'must hold {{event}} once: the bridge reads the event type from the topic';
  if (/[+#]/.test(template.replace(PLACEHOLDER, ''))) return 'must be a topic without wildcards (+, #): placeholders become them';
  if (template.startsWith('$') || template.split('/').some((level) => level === '')) return 'must be a topic of non-empty levels, not starting with $';
  return null;
}

export interface EventTopicPattern {
  /** The subscription filter: each level with a placeholder is `+`, the application's own id is put in. */
  filter: string;
  /** The event type a topic of this pattern names, or null for a topic that does not match. */
  eventOf(topic: string): string | null;
}

/**
 * ChirpStack's Handlebars event topic as the bridge subscribes to it. The MQTT integration is global
 * (every application of the server), so `{{application_id}}` becomes the connection's application.
 */
export function eventTopicPattern(template: string, applicationId: string): EventTopicPattern {
  const levels = template.replace(/\{\{\s*application_id\s*\}\}/g, applicationId).split('/');
  const filter = levels.map((level) => (level.match(PLACEHOLDER) ? '+' : level)).join('/');
  const regex = new RegExp(
    `^${levels
      .map((level) =>
        level
          .split(PLACEHOLDER)
          .map((part, index) => (index % 2 === 0 ? escapeRegex(part) : part === 'event' ? '([^/]+)' : '[^/]*'))
          .join(''),
      )
      .join('/')}$`,
  );
  return { filter, eventOf: (topic) => regex.exec(topic)?.[1] ?? null };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
