import { WeightsError } from '../errors.js';

/**
 * A restricted pickle reader: a stack machine over the opcodes of protocols 0–5 that build
 * plain data (ints, floats, strings, bytes, tuples, lists, dicts, sets). It never imports
 * or calls Python code: every `GLOBAL`/`STACK_GLOBAL` goes through `findClass`, which
 * returns a JavaScript stand-in for a whitelisted name or throws; `REDUCE`/`NEWOBJ` only
 * call such stand-ins. So an untrusted pickle can at worst fail, never run anything.
 *
 * Python values map to JavaScript as: None → null, bool → boolean, int → number (bigint
 * beyond 2^53), float → number, str → string, bytes → Uint8Array, tuple → frozen array,
 * list → array, dict → Map (keys kept as they are), set → Set.
 */

/** What a whitelisted global stands for: something `REDUCE`/`NEWOBJ` may call. */
export interface PyCallable {
  readonly kind: 'callable';
  /** Dotted Python name, for messages. */
  readonly name: string;
  call(args: readonly unknown[]): unknown;
}

/** A whitelisted global that is a value, not called (e.g. a storage type, a dtype). */
export interface PyConstant {
  readonly kind: 'constant';
  readonly name: string;
  readonly value: unknown;
}

export type PyGlobal = PyCallable | PyConstant;

export interface UnpickleHooks {
  /** Resolve `module.name`; throw a WeightsError to refuse it. */
  findClass(module: string, name: string): PyGlobal;
  /** Resolve a persistent id (torch.save's storage references). */
  persistentLoad?(pid: unknown): unknown;
  /** `BUILD`: apply `state` to `obj`; the default keeps `obj` unchanged. */
  build?(obj: unknown, state: unknown): unknown;
  /** Name used in error messages, e.g. `resnet18.pth: archive/data.pkl`. */
  source?: string;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Decode one pickle; throws WeightsError on anything malformed or refused. */
export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks): unknown {
  const src = hooks.source ?? 'pickle';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const fail = (what: string, at = pos): never => {
    throw new WeightsError('E_BAD_WEIGHTS', `${src}: ${what} at byte ${at}`, {
      hint: 'the file is damaged or was not written by torch.save',
    });
  };
  const need = (n: number): void => {
    if (n < 0 || pos + n > bytes.length) fail(`truncated pickle (needs ${n} more bytes)`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length too large');
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text line');
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const utf8 = (b: Uint8Array): string => {
    try {
      return decoder.decode(b);
    } catch {
      return fail('invalid UTF-8 string');
    }
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) {
      fail('stack underflow');
    }
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) return fail('missing MARK');
    return stack.splice(m);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo key ${i} not defined`);
    return memo.get(i);
  };
  const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);
  const resolve = (module: string, name: string): PyGlobal => hooks.findClass(module, name);
  const callable = (f: unknown, op: string): PyCallable => {
    if (typeof f === 'object' && f !== null && (f as PyGlobal).kind === 'callable') return f as PyCallable;
    const what = typeof f === 'object' && f !== null && 'name' in f ? `\`${(f as PyGlobal).name}\`` : 'a non-callable value';
    return fail(`${op} on ${what}`);
  };
  const asArgs = (a: unknown, op: string): readonly unknown[] => {
    if (!Array.isArray(a)) fail(`${op} expects an argument tuple`);
    return a as unknown[];
  };
  const setItems = (d: unknown, items: unknown[]): void => {
    if (!(d instanceof Map)) fail('SETITEM(S) on a non-dict');
    if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (d as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]): void => {
    if (!Array.isArray(l) || Object.isFrozen(l)) fail('APPEND(S) on a non-list');
    (l as unknown[]).push(...items);
  };
  const addItems = (s: unknown, items: unknown[]): void => {
    if (!(s instanceof Set)) fail('ADDITEMS on a non-set');
    for (const it of items) (s as Set<unknown>).add(it);
  };
  const longFromBytes = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const parseIntText = (s: string): number | bigint | boolean => {
    if (s === '00') return false;
    if (s === '01') return true;
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[-+]?\d+$/.test(t)) return fail(`bad integer literal ${JSON.stringify(s)}`);
    const v = BigInt(t);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('unsupported pickle protocol', at);
        break;
      case 0x95: // FRAME: a length prefix only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) fail('STOP with a malformed stack', at);
        return stack[0];

      // constants and numbers
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x4a:
        stack.push(i32());
        break; // BININT
      case 0x8a:
        stack.push(longFromBytes(take(u8())));
        break; // LONG1
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length', at);
        stack.push(longFromBytes(take(n)));
        break;
      }
      case 0x49:
        stack.push(parseIntText(line()));
        break; // INT
      case 0x4c:
        stack.push(parseIntText(line()));
        break; // LONG
      case 0x47: {
        // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x46: {
        // FLOAT
        const v = Number(line());
        if (Number.isNaN(v)) fail('bad float literal', at);
        stack.push(v);
        break;
      }

      // strings and bytes
      case 0x58:
        stack.push(utf8(take(u32())));
        break; // BINUNICODE
      case 0x8c:
        stack.push(utf8(take(u8())));
        break; // SHORT_BINUNICODE
      case 0x8d:
        stack.push(utf8(take(u64())));
        break; // BINUNICODE8
      case 0x55:
        stack.push(latin1.decode(take(u8())));
        break; // SHORT_BINSTRING (py2 str)
      case 0x54: {
        // BINSTRING
        const n = i32();
        if (n < 0) fail('negative BINSTRING length', at);
        stack.push(latin1.decode(take(n)));
        break;
      }
      case 0x43:
        stack.push(new Uint8Array(take(u8())));
        break; // SHORT_BINBYTES
      case 0x42:
        stack.push(new Uint8Array(take(u32())));
        break; // BINBYTES
      case 0x8e:
        stack.push(new Uint8Array(take(u64())));
        break; // BINBYTES8
      case 0x96:
        stack.push(new Uint8Array(take(u64())));
        break; // BYTEARRAY8

      // containers
      case 0x28:
        marks.push(stack.length);
        break; // MARK
      case 0x29:
        stack.push(tuple([]));
        break; // EMPTY_TUPLE
      case 0x74:
        stack.push(tuple(popMark()));
        break; // TUPLE
      case 0x85:
        stack.push(tuple([pop()]));
        break; // TUPLE1
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x64: {
        // DICT
        const d = new Map<unknown, unknown>();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f:
        stack.push(new Set());
        break; // EMPTY_SET
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        addItems(top(), items);
        break;
      }
      case 0x91:
        stack.push(Object.freeze(new Set(popMark())));
        break; // FROZENSET

      // stack manipulation
      case 0x30:
        pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP

      // memo
      case 0x70: {
        // PUT
        const k = parseIntText(line());
        memo.set(Number(k), top());
        break;
      }
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x67:
        stack.push(memoGet(Number(parseIntText(line()))));
        break; // GET
      case 0x68:
        stack.push(memoGet(u8()));
        break; // BINGET
      case 0x6a:
        stack.push(memoGet(u32()));
        break; // LONG_BINGET

      // globals and calls: only through the whitelist
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(resolve(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL on non-strings', at);
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = asArgs(pop(), 'REDUCE');
        const f = callable(pop(), 'REDUCE');
        stack.push(f.call(args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = asArgs(pop(), 'NEWOBJ');
        const cls = callable(pop(), 'NEWOBJ');
        stack.push(cls.call(args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = asArgs(pop(), 'NEWOBJ_EX');
        const cls = callable(pop(), 'NEWOBJ_EX');
        if (!(kwargs instanceof Map) || kwargs.size > 0) fail(`NEWOBJ_EX with keyword arguments on \`${cls.name}\``, at);
        stack.push(cls.call(args));
        break;
      }
      case 0x69: {
        // INST
        const module = line();
        const name = line();
        const cls = callable(resolve(module, name), 'INST');
        stack.push(cls.call(popMark()));
        break;
      }
      case 0x6f: {
        // OBJ
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class', at);
        const cls = callable(items[0], 'OBJ');
        stack.push(cls.call(items.slice(1)));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = pop();
        stack.push(hooks.build ? hooks.build(obj, state) : obj);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!hooks.persistentLoad) fail('persistent id without a loader', at);
        stack.push(hooks.persistentLoad!(pid));
        break;
      }
      case 0x50: {
        // PERSID
        const pid = line();
        if (!hooks.persistentLoad) fail('persistent id without a loader', at);
        stack.push(hooks.persistentLoad!(pid));
        break;
      }
      default:
        // EXT1/2/4 (extension registry), NEXT_BUFFER/READONLY_BUFFER (out-of-band data) and
        // anything unknown: not produced by torch.save, refused.
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}`, at);
    }
  }
}
