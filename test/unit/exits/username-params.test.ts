import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyLoginParams,
  isReservedLogin,
  parseLogin,
  tagFilter,
} from '../../../src/auth/username-params.js';
import { validateConfig } from '../../../src/config/load.js';

describe('login parameters', () => {
  it('splits user and parameters in the provider convention', () => {
    const p = parseLogin('alice-country-US-session-abc123-sesstime-10');
    assert.ok(p);
    assert.equal(p.user, 'alice');
    assert.deepEqual({ ...p.params }, { country: 'us', session: 'abc123', sesstime: '10' });
  });

  it('keeps hyphens that are part of the user name', () => {
    assert.equal(parseLogin('bob-smith-region-eu')?.user, 'bob-smith');
    assert.equal(parseLogin('a-b-c-session-x')?.user, 'a-b-c');
    // "region" inside the name, then a real pair: the first split that parses wins.
    assert.equal(parseLogin('alice-region-region-eu')?.user, 'alice-region');
  });

  it('returns null without parameters or with malformed ones', () => {
    for (const s of [
      'alice',
      'bob-smith',
      'alice-country',
      'alice-colour-red',
      '-country-us',
      'alice-sesstime-0',
      'alice-sesstime-abc',
      'alice-session-' + 'x'.repeat(65),
      'alice-session-a/b',
    ]) {
      assert.equal(parseLogin(s), null, s);
    }
    // A repeated key: the earlier pair becomes part of the user name, which no configured user can
    // have (such names are refused), so the login fails rather than picking one of the values.
    const dup = parseLogin('alice-country-us-country-de')!;
    assert.equal(dup.user, 'alice-country-us');
    assert.equal(isReservedLogin(dup.user), true);
  });

  it('session ids keep their case; tag values are lower-cased', () => {
    const p = parseLogin('u-session-AbC-region-EU')!;
    assert.equal(p.params.session, 'AbC');
    assert.equal(p.params.region, 'eu');
    assert.deepEqual(tagFilter(p.params), { region: 'eu' });
    assert.equal(tagFilter(parseLogin('u-session-x')!.params), null);
  });

  it('applyLoginParams moves parameters into the session once', () => {
    const s: { user: string | null; params?: Readonly<Record<string, string>> } = {
      user: 'alice-country-de',
    };
    applyLoginParams(s);
    assert.equal(s.user, 'alice');
    assert.equal(s.params?.country, 'de');
    applyLoginParams(s);
    assert.equal(s.user, 'alice');
    const anon: { user: string | null } = { user: null };
    applyLoginParams(anon);
    assert.equal(anon.user, null);
  });

  it('configured user names that look like logins with parameters are refused', () => {
    assert.equal(isReservedLogin('eve-session-1'), true);
    assert.equal(isReservedLogin('eve-smith'), false);
    assert.throws(
      () =>
        validateConfig({
          users: [{ name: 'eve-country-us', password: 'x' }],
          inbounds: [{ name: 'h', type: 'http', listen: '127.0.0.1:0' }],
        }),
      /exit parameters/,
    );
  });
});
