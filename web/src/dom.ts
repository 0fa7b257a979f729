// Building the page. Everything that comes from the data becomes a text node (or textContent, or an
// attribute value): markup is never parsed from a string, so a process named "<img onerror=...>"
// is shown as those characters and nothing else.

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  title?: string;
  href?: string;
  type?: string;
  value?: string;
  placeholder?: string;
  role?: string;
  data?: Record<string, string>;
  on?: Partial<Record<keyof HTMLElementEventMap, (event: Event) => void>>;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props) {
    if (props.class) element.className = props.class;
    if (props.title !== undefined) element.title = props.title;
    for (const name of ["href", "type", "value", "placeholder", "role"] as const) {
      const value = props[name];
      if (value !== undefined) element.setAttribute(name, value);
    }
    for (const [key, value] of Object.entries(props.data ?? {})) element.dataset[key] = value;
    for (const [event, handler] of Object.entries(props.on ?? {})) element.addEventListener(event, handler);
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces an element's content: the old nodes (and listeners only they held) go.
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

// A <select> over fixed choices; `value` is preselected.
export function select(choices: readonly (readonly [string, string])[], value: string, onChange: (value: string) => void): HTMLSelectElement {
  const element = h("select");
  for (const [key, label] of choices) {
    const option = h("option", { value: key }, label);
    option.selected = key === value;
    element.append(option);
  }
  element.addEventListener("change", () => onChange(element.value));
  return element;
}
