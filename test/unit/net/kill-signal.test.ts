import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KillSignal } from '../../../src/net/kill-signal.js';

test('KillSignal: listeners (functions and handleEvent objects) run once, removed ones never', () => {
  const s = new KillSignal();
  const calls: string[] = [];
  const f = (): void => void calls.push('f');
  const o = { handleEvent: () => void calls.push('o') };
  const gone = (): void => void calls.push('gone');
  s.addEventListener('abort', f);
  s.addEventListener('abort', o, { once: true });
  s.addEventListener('abort', gone);
  s.removeEventListener('abort', gone);
  assert.equal(s.aborted, false);
  const why = new Error('quota');
  s.abort(why);
  s.abort(new Error('again'));
  assert.deepEqual(calls, ['f', 'o']);
  assert.equal(s.aborted, true);
  assert.equal(s.reason, why, 'the first reason stays');
  s.addEventListener('abort', f); // after the fact: never called
  assert.deepEqual(calls, ['f', 'o']);
});
