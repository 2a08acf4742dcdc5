/**
 * Connection settings split into what is stored in the clear and what is sealed. A secret key is a
 * top-level setting (`apiKey`) or one level down (`mqtt.password`), so that the object around a
 * nested secret stays readable in API answers.
 */

type Settings = Record<string, unknown>;

function isObject(value: unknown): value is Settings {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pathOf(key: string): [string, string | undefined] {
  const [outer, inner] = key.split('.', 2);
  return [outer, inner];
}

/** `secret` is keyed by the secret keys themselves (`mqtt.password`), as it is sealed. */
export function splitSecrets(secretKeys: readonly string[], settings: Settings): { plain: Settings; secret: Settings } {
  const plain: Settings = { ...settings };
  const secret: Settings = {};
  for (const key of secretKeys) {
    const [outer, inner] = pathOf(key);
    if (inner === undefined) {
      if (outer in plain) secret[key] = plain[outer];
      delete plain[outer];
    } else if (isObject(plain[outer]) && inner in plain[outer]) {
      const { [inner]: value, ...rest } = plain[outer];
      secret[key] = value;
      plain[outer] = rest;
    }
  }
  return { plain, secret };
}

/** The settings as the network code uses them: the opened secrets put back in place. */
export function joinSecrets(plain: Settings, secret: Settings): Settings {
  const settings: Settings = { ...plain };
  for (const [key, value] of Object.entries(secret)) {
    const [outer, inner] = pathOf(key);
    if (inner === undefined) settings[outer] = value;
    else if (isObject(settings[outer])) settings[outer] = { ...settings[outer], [inner]: value };
  }
  return settings;
}

/** A PATCH of settings: a secret left out keeps its stored value, also inside a nested object given anew. */
export function patchSettings(secretKeys: readonly string[], current: Settings, patch: Settings): Settings {
  const settings: Settings = { ...current, ...patch };
  for (const key of secretKeys) {
    const [outer, inner] = pathOf(key);
    const kept = isObject(current[outer]) && inner !== undefined ? current[outer][inner] : undefined;
    if (inner !== undefined && kept !== undefined && isObject(patch[outer]) && !(inner in patch[outer])) {
      settings[outer] = { ...patch[outer], [inner]: kept };
    }
  }
  return settings;
}
