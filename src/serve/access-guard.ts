/**
 * The web app's security model, as hono middleware: every request but the landing page needs
 * the access token (a cookie the landing page sets from `?token=`, or an `Authorization:
 * Bearer` header); state changes only by POST whose Origin is the server's own; every answer
 * carries a Content-Security-Policy that allows only the page's own origin (and wasm).
 */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';

export const TOKEN_COOKIE = 'headstart_token';

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token a request carries (header first, then the cookie), or undefined. */
function requestToken(header: string | undefined, cookie: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return m ? m[1] : cookie;
}

/**
 * CSP: scripts, styles, images, fetches and workers from this origin only ('wasm-unsafe-eval'
 * lets onnxruntime-web compile its wasm; blob: images are the dropped files shown back; the
 * one inline script, the import map, is allowed by its hash).
 */
export function contentSecurityPolicy(scriptHashes: readonly string[]): string {
  const hashes = scriptHashes.map((h) => ` '${h}'`).join('');
  return [
    "default-src 'self'",
    `script-src 'self' 'wasm-unsafe-eval'${hashes}`,
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export interface GuardOptions {
  token: string;
  /** Origins a POST may come from (the server's own, as 127.0.0.1 and localhost). */
  origins: () => readonly string[];
  csp: string;
  /** Paths answered without a token (the landing page, which then checks `?token=` itself). */
  open: readonly string[];
}

export function accessGuard(options: GuardOptions): MiddlewareHandler {
  return async (c, next) => {
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-store');
    const path = c.req.path;
    if (!options.open.includes(path)) {
      const given = requestToken(c.req.header('authorization'), getCookie(c, TOKEN_COOKIE));
      if (!sameToken(given, options.token)) {
        c.header('Content-Security-Policy', options.csp);
        return c.json({ error: 'E_UNAUTHORIZED', message: 'missing or wrong access token', hint: 'open the URL that `headstart serve` printed (it carries the token)' }, 401);
      }
    }
    const method = c.req.method;
    if (method !== 'GET' && method !== 'HEAD') {
      c.header('Content-Security-Policy', options.csp);
      if (method !== 'POST') return c.json({ error: 'E_METHOD', message: `${method} is not accepted; state changes only by POST` }, 405);
      const origin = c.req.header('origin');
      if (!origin || !options.origins().includes(origin)) {
        return c.json({ error: 'E_BAD_ORIGIN', message: `a POST from origin \`${origin ?? '(none)'}\` is refused; only the page this server serves may change things` }, 403);
      }
    }
    await next();
    // A handler may set a stricter policy (a served report.html is sandboxed); others get the page's.
    if (!c.res.headers.get('Content-Security-Policy')) c.res.headers.set('Content-Security-Policy', options.csp);
  };
}

/** Whether the landing page's `?token=` is the right one. */
export function isToken(given: string | undefined, token: string): boolean {
  return sameToken(given, token);
}
