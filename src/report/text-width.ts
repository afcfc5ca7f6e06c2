/**
 * Approximate rendered width of a string in a sans-serif font (DejaVu Sans / Helvetica
 * metrics), so layouts can leave room for labels without a font engine. Errs on the wide side.
 */
const NARROW = new Set(['i', 'j', 'l', '.', ',', ':', ';', '|', '!', "'", ' ', 'I', '(', ')', '[', ']', 'f', 't', 'r', '/', '-']);
const WIDE = new Set(['m', 'w', 'M', 'W', '%', '@']);

export function textWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const ch of text) {
    if (NARROW.has(ch)) em += 0.36;
    else if (WIDE.has(ch)) em += 0.92;
    else if (ch >= 'A' && ch <= 'Z') em += 0.72;
    else if (ch.charCodeAt(0) > 0x2000) em += 1.0;
    else em += 0.62;
  }
  return em * fontSize;
}
