import { WeightsError } from '../errors.js';

/**
 * Parse a JavaScript data literal as minifiers print it (unquoted keys, `!0`/`!1` for
 * true/false, `.5`, `void 0`), without evaluating any code: objects, arrays, strings,
 * numbers, booleans, null. Used to read model files shipped as JS modules (nsfwjs) by
 * their text rather than by running them. Anything that is not plain data is an error.
 */
export interface JsLiteral {
  value: unknown;
  /** Index just past the literal. */
  end: number;
}

const IDENT_START = /[A-Za-z_$]/;
const IDENT_PART = /[A-Za-z0-9_$]/;
const NUMBER = /-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/y;

export function parseJsLiteral(text: string, start: number, source = 'JS literal'): JsLiteral {
  let pos = start;
  const fail = (what: string): never => {
    const around = text.slice(Math.max(0, pos - 20), pos + 20).replace(/\s+/g, ' ');
    throw new WeightsError('E_BAD_WEIGHTS', `${source}: ${what} at character ${pos} (near \`${around}\`)`, {
      hint: 'the file is not the expected data module; reinstall the package that ships it',
    });
  };
  const skipSpace = (): void => {
    for (let c = text.charCodeAt(pos); c === 32 || c === 10 || c === 13 || c === 9; c = text.charCodeAt(++pos));
  };
  const ident = (): string => {
    const s = pos;
    if (!IDENT_START.test(text[pos] ?? '')) fail('expected a name');
    while (pos < text.length && IDENT_PART.test(text[pos])) pos++;
    return text.slice(s, pos);
  };
  const string = (): string => {
    const quote = text[pos++];
    // Fast path (e.g. megabytes of base64): no escape and no newline before the closing quote.
    const close = text.indexOf(quote, pos);
    if (close >= 0) {
      const body = text.slice(pos, close);
      if (!body.includes('\\') && !body.includes('\n')) {
        pos = close + 1;
        return body;
      }
    }
    let out = '';
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text[pos++];
      if (c === quote) return out;
      if (c === '\n') fail('newline in string');
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[pos++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'v':
          out += '\v';
          break;
        case '0':
          out += '\0';
          break;
        case 'x': {
          const h = text.slice(pos, pos + 2);
          if (!/^[0-9a-fA-F]{2}$/.test(h)) fail('bad \\x escape');
          out += String.fromCharCode(parseInt(h, 16));
          pos += 2;
          break;
        }
        case 'u': {
          const h = text.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(h, 16));
          pos += 4;
          break;
        }
        case '\n':
          break; // line continuation
        default:
          if (e === undefined) fail('unterminated string');
          out += e; // \" \' \\ \/ and identity escapes
      }
    }
  };
  const number = (): number => {
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (!m) return fail('expected a value');
    pos += m[0].length;
    if (IDENT_PART.test(text[pos] ?? '')) fail('bad number');
    return Number(m[0]);
  };

  const value = (): unknown => {
    skipSpace();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: Record<string, unknown> = {};
      for (;;) {
        skipSpace();
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        let key: string;
        const k = text[pos];
        if (k === '"' || k === "'") key = string();
        else if (/[0-9.]/.test(k ?? '')) key = String(number());
        else key = ident();
        skipSpace();
        if (text[pos] !== ':') fail('expected `:`');
        pos++;
        const v = value();
        // Own data property even for "__proto__": never touch the prototype.
        Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] !== '}') fail('expected `,` or `}`');
      }
    }
    if (c === '[') {
      pos++;
      const arr: unknown[] = [];
      for (;;) {
        skipSpace();
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        arr.push(value());
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] !== ']') fail('expected `,` or `]`');
      }
    }
    if (c === '"' || c === "'") return string();
    if (c === '!') {
      // Minified booleans: !0 is true, !1 is false.
      if (text[pos + 1] === '0' && !IDENT_PART.test(text[pos + 2] ?? '')) {
        pos += 2;
        return true;
      }
      if (text[pos + 1] === '1' && !IDENT_PART.test(text[pos + 2] ?? '')) {
        pos += 2;
        return false;
      }
      return fail('expected !0 or !1');
    }
    if (c !== undefined && IDENT_START.test(c)) {
      const save = pos;
      const word = ident();
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'null') return null;
      if (word === 'void') {
        skipSpace();
        if (text[pos] === '0') {
          pos++;
          return undefined;
        }
      }
      pos = save;
      return fail(`\`${word}\` is not a data literal`);
    }
    return number();
  };

  const v = value();
  return { value: v, end: pos };
}
