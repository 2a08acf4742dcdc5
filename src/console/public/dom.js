// Small DOM helpers: elements from plain data, never from HTML strings.

/** `h('td', { class: 'x', onclick }, 'text', child)`; null and false children are skipped. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** A table that scrolls sideways on a narrow screen instead of squeezing its columns. */
export function table(caption, headings, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'table', role: 'region', 'aria-label': caption, tabindex: 0 },
    h('table', {}, h('caption', {}, caption), h('thead', {}, h('tr', {}, headings.map((text) => h('th', { scope: 'col' }, text)))), h('tbody', {}, rows)),
  );
}

/** "3 min ago", with the exact time on hover. */
export function ago(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  const text =
    seconds < 60 ? `${Math.max(seconds, 0)} s ago` : seconds < 3600 ? `${Math.round(seconds / 60)} min ago` : seconds < 86400 ? `${Math.round(seconds / 3600)} h ago` : `${Math.round(seconds / 86400)} d ago`;
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString() }, text);
}

export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${kind}` }, text);
}

/** Shows a short outcome in the status line; errors stay until the next message. */
export function say(message, kind = 'info') {
  const status = document.getElementById('status');
  status.textContent = message;
  status.className = kind;
}

/** A select whose first option (`anyText`) means no filter. */
export function select(label, name, options, value, onchange, anyText = 'any') {
  return h(
    'label',
    {},
    label,
    h('select', { name, onchange }, h('option', { value: '' }, anyText), options.map(([optionValue, text]) => h('option', { value: optionValue, selected: optionValue === value }, text))),
  );
}
