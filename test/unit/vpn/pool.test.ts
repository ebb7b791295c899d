import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AddressPool, canonicalAddress } from '../../../src/vpn/pool.js';

describe('AddressPool', () => {
  it('gives the server the first host address and devices the next free index in both families', () => {
    const p = new AddressPool('10.66.0.0/24', 'fd66:1::/64');
    assert.deepEqual(p.serverAddresses(), { v4: '10.66.0.1', v6: 'fd66:1::1' });
    assert.deepEqual(p.serverInterfaceAddresses(), ['10.66.0.1/24', 'fd66:1::1/64']);
    assert.deepEqual(p.allocate([]), { v4: '10.66.0.2', v6: 'fd66:1::2' });
    assert.deepEqual(p.allocate(['10.66.0.2', 'fd66:1::2']), { v4: '10.66.0.3', v6: 'fd66:1::3' });
  });

  it('skips an index taken in either family, and fills holes first', () => {
    const p = new AddressPool('10.66.0.0/24', 'fd66:1::/64');
    // .2 taken in v4 only, ::3 taken in v6 only (e.g. a device given an explicit address): next is 4.
    assert.deepEqual(p.allocate(['10.66.0.2', 'fd66:1:0:0::3']), { v4: '10.66.0.4', v6: 'fd66:1::4' });
    assert.deepEqual(p.allocate(['10.66.0.3']), { v4: '10.66.0.2', v6: 'fd66:1::2' });
  });

  it('ignores addresses outside the pool and normalises the prefix', () => {
    const p = new AddressPool('10.66.0.77/24', null);
    assert.equal(p.prefixV4, '10.66.0.0/24');
    assert.equal(p.prefixV6, null);
    assert.deepEqual(p.allocate(['192.168.1.2', 'fd00::2']), { v4: '10.66.0.2', v6: null });
  });

  it('never hands out the IPv4 broadcast address and says when the pool is full', () => {
    const p = new AddressPool('10.66.0.0/29', null); // .1 server, .2-.6 devices, .7 broadcast
    const taken: string[] = [];
    for (let i = 0; i < 5; i++) taken.push(p.allocate(taken).v4!);
    assert.deepEqual(taken, ['10.66.0.2', '10.66.0.3', '10.66.0.4', '10.66.0.5', '10.66.0.6']);
    assert.throws(() => p.allocate(taken), /10\.66\.0\.0\/29 is full/);
  });

  it('is bounded by the smaller family', () => {
    const p = new AddressPool('10.0.0.0/16', 'fd00::/125'); // v6: 8 addresses, index 1 is the server
    const taken: string[] = [];
    for (;;) {
      let a;
      try {
        a = p.allocate(taken);
      } catch {
        break;
      }
      taken.push(a.v4!, a.v6!);
    }
    assert.equal(taken.length / 2, 6); // indices 2..7
  });

  it('knows which addresses are handed to devices', () => {
    const p = new AddressPool('10.66.0.0/24', 'fd66:1::/64');
    assert.equal(p.contains('10.66.0.9'), true);
    assert.equal(p.contains('10.66.0.1'), false, 'the server address is not a device address');
    assert.equal(p.contains('fd66:1::abcd'), true);
    assert.equal(p.contains('10.67.0.9'), false);
  });

  it('rejects a prefix of the wrong family', () => {
    assert.throws(() => new AddressPool('fd00::/64', null), /not an IPv4 prefix/);
    assert.throws(() => new AddressPool(null, null), /needs an IPv4 or an IPv6 prefix/);
  });

  it('canonicalises addresses', () => {
    assert.equal(canonicalAddress('fd66:0001:0000::0002'), 'fd66:1::2');
  });
});
