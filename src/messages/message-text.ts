/** Longest message text, in characters (Unicode code points), after trimming (CONTRACT §3). */
export const MAX_TEXT_CHARS = 4000;

/** A lone surrogate (half of an emoji): not Unicode text; PostgreSQL refuses it in jsonb, as it does NUL. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Trimmed text, or why it is refused. Characters are code points, so an emoji counts once. */
export function normalizeText(text: string): { ok: true; text: string } | { ok: false; problem: string } {
  const trimmed = text.trim();
  if (trimmed.length === 0) return { ok: false, problem: 'content.text must not be empty' };
  if (trimmed.includes('\u0000') || LONE_SURROGATE.test(trimmed))
    return { ok: false, problem: 'content.text must be valid Unicode text without NUL characters' };
  let chars = 0;
  for (const _ of trimmed)
    if (++chars > MAX_TEXT_CHARS)
      return { ok: false, problem: `content.text must be at most ${MAX_TEXT_CHARS} characters` };
  return { ok: true, text: trimmed };
}
