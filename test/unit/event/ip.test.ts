import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { canonicalIp, isIpv4, isIpv6 } from '../../../src/core/event/ip.js';

test('IPv4: dotted quads 0–255 without leading zeros', () => {
  for (const ok of ['0.0.0.0', '1.2.3.4', '255.255.255.255', '10.0.0.1', '192.168.100.200']) {
    assert.equal(canonicalIp(ok), ok, ok);
    assert.ok(isIpv4(ok));
  }
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '1.2.3.256',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1..2.3',
    '1.2.3.',
    '.1.2.3',
    '1.2.3.4/24',
    '1.2.3.a',
    '1234.1.1.1',
    '0x7f.0.0.1',
    '+1.2.3.4',
  ]) {
    assert.equal(canonicalIp(bad), undefined, JSON.stringify(bad));
    assert.equal(isIpv4(bad), false, JSON.stringify(bad));
  }
});

test('IPv6: full, compressed, mixed case and IPv4-embedded forms canonicalise (RFC 5952)', () => {
  const cases: Array<[string, string]> = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['fe80::a:0:0:0', 'fe80::a:0:0:0'], // a tie: the first run
    ['fe80:0:0:a:0:0:0:0', 'fe80:0:0:a::'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::FFFF:c000:0201', '::ffff:192.0.2.1'],
    ['0:0:0:0:0:ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['ABCD:EF01:2345:6789:ABCD:EF01:2345:6789', 'abcd:ef01:2345:6789:abcd:ef01:2345:6789'],
  ];
  for (const [input, canonical] of cases) {
    assert.equal(canonicalIp(input), canonical, input);
    assert.ok(isIpv6(input), input);
  }
});

test('IPv6: malformed text and zone ids are refused', () => {
  for (const bad of [
    ':',
    ':::',
    '1:2',
    ':1',
    '1:',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '12345::',
    'g::1',
    'fe80::1%eth0',
    'fe80::1%1',
    '[::1]',
    '::1/128',
    ' ::1',
    '::1 ',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::1.2.3',
    '::1.2.3.04',
    '::256.1.1.1',
    '1.2.3.4::',
    '::1.2.3.4:5',
    '1:::2',
  ]) {
    assert.equal(canonicalIp(bad), undefined, JSON.stringify(bad));
  }
});

const hostOf = (ip: string): string => new URL(`http://[${ip}]/`).hostname.slice(1, -1);

test('property: generated IPv6 addresses agree with the WHATWG URL canonical form', () => {
  fc.assert(
    fc.property(fc.ipV6(), (ip) => {
      const c = canonicalIp(ip);
      assert.ok(c !== undefined, ip);
      assert.equal(canonicalIp(c), c, 'idempotent');
      // URL keeps mapped addresses in hex; compare the rest exactly
      if (!c.startsWith('::ffff:')) assert.equal(c, hostOf(ip));
      assert.equal(canonicalIp(ip.toUpperCase()), c);
    }),
    { numRuns: 3000 },
  );
});

test('property: generated IPv4 addresses are accepted as they are', () => {
  fc.assert(
    fc.property(fc.ipV4(), (ip) => assert.equal(canonicalIp(ip), ip)),
    { numRuns: 2000 },
  );
});

test('property: on random text, the IPv6 check agrees with node:net (zone ids aside)', () => {
  const alphabet = fc.constantFrom(...'0123456789abcdefABCDEF:.'.split(''), 'g', ' ');
  fc.assert(
    fc.property(fc.string({ unit: alphabet, maxLength: 45 }), (s) => {
      assert.equal(isIpv6(s), isIPv6(s), JSON.stringify(s));
    }),
    { numRuns: 20000 },
  );
});
