import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_TEXT_CHARS, normalizeText } from './message-text';

const problem = (text: string) => {
  const r = normalizeText(text);
  return r.ok ? undefined : r.problem;
};

describe('normalizeText', () => {
  it('trims and keeps the text', () => {
    assert.deepEqual(normalizeText('  hello \n'), { ok: true, text: 'hello' });
    assert.deepEqual(normalizeText('a  b'), { ok: true, text: 'a  b' });
    assert.deepEqual(normalizeText('\u00a0x\u00a0'), { ok: true, text: 'x' });
  });

  it('refuses empty and whitespace-only text', () => {
    for (const t of ['', ' ', '\n\t ', '\u00a0\u2003'])
      assert.equal(problem(t), 'content.text must not be empty', JSON.stringify(t));
  });

  it('counts characters (code points), not UTF-16 units or bytes', () => {
    assert.equal(MAX_TEXT_CHARS, 4000);
    assert.equal(normalizeText('x'.repeat(4000)).ok, true);
    assert.match(problem('x'.repeat(4001))!, /at most 4000/);
    // 4000 emoji are 8000 UTF-16 units and 16000 bytes: accepted.
    assert.equal(normalizeText('😀'.repeat(4000)).ok, true);
    assert.match(problem('😀'.repeat(4001))!, /at most 4000/);
    assert.equal(normalizeText('é'.repeat(4000)).ok, true);
    // The limit applies after trimming.
    assert.equal(normalizeText(`   ${'x'.repeat(4000)}   `).ok, true);
  });

  it('refuses what is not text: NUL and lone surrogates', () => {
    assert.ok(problem('a\u0000b'));
    assert.ok(problem('a\ud800b'));
    assert.ok(problem('\udc00'));
    assert.ok(problem(`x${'😀'.slice(0, 1)}`));
    assert.equal(normalizeText('a\u0001b\u001fc').ok, true, 'other control characters are text');
  });

  it('for any string: accepted iff 1..4000 code points once trimmed and well formed', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 50 }), fc.string({ maxLength: 4100 })),
        (s) => {
          const trimmed = s.trim();
          const chars = [...trimmed].length;
          const wellFormed = !/\p{Cs}/u.test(trimmed) && !trimmed.includes('\u0000');
          const r = normalizeText(s);
          assert.equal(r.ok, chars >= 1 && chars <= 4000 && wellFormed);
          if (r.ok) assert.equal(r.text, trimmed);
        },
      ),
    );
  });
});
