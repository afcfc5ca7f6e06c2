// A small strict XML parser for the report tests (not a test file itself): it rejects
// unbalanced tags, bad attributes, duplicate attributes, stray '<' or '&', unknown entities.
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, where: number): string {
  if (raw.includes('<')) throw new Error(`XML: '<' in text or attribute near offset ${where}`);
  return raw.replace(/&([^;]*);|&/g, (m, ent: string | undefined) => {
    if (ent === undefined) throw new Error(`XML: bare '&' near offset ${where}`);
    if (ent in ENTITIES) return ENTITIES[ent];
    const num = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(ent);
    if (num) return String.fromCodePoint(ent[1] === 'x' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10));
    throw new Error(`XML: unknown entity &${ent}; near offset ${where}`);
  });
}

export function parseXml(text: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipProlog = () => {
    for (;;) {
      while (i < text.length && /\s/.test(text[i])) i++;
      if (text.startsWith('<?', i)) i = text.indexOf('?>', i) + 2;
      else if (text.startsWith('<!--', i)) i = text.indexOf('-->', i) + 3;
      else if (/^<!DOCTYPE/i.test(text.slice(i, i + 9))) i = text.indexOf('>', i) + 1;
      else return;
      if (i < 2) throw new Error('XML: unterminated prolog');
    }
  };
  skipProlog();
  while (i < text.length) {
    if (text[i] !== '<') {
      const end = text.indexOf('<', i);
      const raw = text.slice(i, end < 0 ? text.length : end);
      if (stack.length === 0) {
        if (raw.trim()) throw new Error(`XML: text outside the root element at ${i}`);
      } else stack[stack.length - 1].text += decode(raw, i);
      i = end < 0 ? text.length : end;
      continue;
    }
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i);
      if (end < 0) throw new Error('XML: unterminated comment');
      i = end + 3;
      continue;
    }
    if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i);
      if (end < 0 || !stack.length) throw new Error('XML: bad CDATA');
      stack[stack.length - 1].text += text.slice(i + 9, end);
      i = end + 3;
      continue;
    }
    if (text[i + 1] === '/') {
      const m = NAME.exec(text.slice(i + 2));
      const close = text.indexOf('>', i);
      const top = stack.pop();
      if (!m || !top || top.name !== m[0] || text.slice(i + 2 + m[0].length, close).trim()) {
        throw new Error(`XML: unexpected </${m?.[0]}> at ${i}, open element is <${top?.name}>`);
      }
      i = close + 1;
      if (stack.length === 0) {
        if (text.slice(i).trim()) throw new Error(`XML: content after the root element at ${i}`);
        return root!;
      }
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (!m) throw new Error(`XML: bad tag at ${i}: ${text.slice(i, i + 20)}`);
    const el: XmlElement = { name: m[0], attrs: {}, children: [], text: '' };
    i += 1 + m[0].length;
    for (;;) {
      const ws = /^\s*/.exec(text.slice(i))![0].length;
      i += ws;
      if (text.startsWith('/>', i)) {
        i += 2;
        break;
      }
      if (text[i] === '>') {
        i += 1;
        stack.push(el);
        break;
      }
      if (!ws) throw new Error(`XML: expected whitespace before an attribute at ${i} in <${el.name}>`);
      const a = /^([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(text.slice(i));
      if (!a) throw new Error(`XML: bad attribute at ${i} in <${el.name}>: ${text.slice(i, i + 30)}`);
      if (a[1] in el.attrs) throw new Error(`XML: duplicate attribute ${a[1]} in <${el.name}>`);
      el.attrs[a[1]] = decode(a[3] ?? a[4], i);
      i += a[0].length;
    }
    if (stack.length === 0 || (stack.length === 1 && stack[0] === el)) {
      if (root) throw new Error('XML: more than one root element');
      root = el;
    } else {
      const parent = stack[stack.length - (stack[stack.length - 1] === el ? 2 : 1)];
      parent.children.push(el);
    }
    if (stack[stack.length - 1] !== el && stack.length === 0) return root!;
  }
  if (stack.length) throw new Error(`XML: unclosed <${stack[stack.length - 1].name}>`);
  if (!root) throw new Error('XML: no root element');
  return root;
}

/** All descendants (and the element itself) matching a predicate, in document order. */
export function findAll(el: XmlElement, pred: (e: XmlElement) => boolean, out: XmlElement[] = []): XmlElement[] {
  if (pred(el)) out.push(el);
  for (const c of el.children) findAll(c, pred, out);
  return out;
}

/** Concatenated text of an element and its descendants. */
export function textOf(el: XmlElement): string {
  return el.text + el.children.map(textOf).join('');
}
