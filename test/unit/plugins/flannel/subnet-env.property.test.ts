// flanneld's subnet.env under hostile text: a SubnetEnv or a CniError (7 malformed,
// 11 incomplete), with CRLF, comments, blank lines and unknown keys tolerated.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import { parseSubnetEnv } from '../../../../plugins/flannel/subnet-env';
import { check, failure, nastyString, outcome } from '../../../helpers/arbitraries';

const FILE = '/run/flannel/subnet.env';
const KEYS = ['FLANNEL_NETWORK', 'FLANNEL_SUBNET', 'FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPMASQ'];

const line = fc.oneof(
  fc.tuple(fc.constantFrom(...KEYS, 'FOO', 'flannel_mtu', ''), fc.oneof(nastyString, fc.constantFrom('10.1.0.0/16', 'fd00::/48', '1450', 'true', '10.1.0.0/16,10.2.0.0/16'))).map(([k, v]) => `${k}=${v}`),
  fc.constantFrom(...KEYS),
  nastyString,
  fc.constant('# comment'),
);
const textArb = fc.oneof(
  fc.array(line, { maxLength: 8 }).map((l) => l.join('\n')),
  fc.string({ unit: 'binary', maxLength: 200 }),
  nastyString,
);

describe('parseSubnetEnv', () => {
  it('any text: a SubnetEnv or a CniError 7/11 naming the file', () => {
    check(
      fc.property(textArb, (text) => {
        const r = outcome(() => parseSubnetEnv(text, FILE));
        if (!r.ok) {
          expect([Code.InvalidConfig, Code.TryAgainLater]).toContain(r.err.code);
          expect(r.err.message).toContain(FILE);
          return;
        }
        const env = r.value;
        expect(env.networks.length + env.ipv6Networks.length).toBeGreaterThan(0);
        expect(env.subnet ?? env.ipv6Subnet).toBeDefined();
        expect(env.mtu).toBeGreaterThanOrEqual(68);
        expect(env.mtu).toBeLessThanOrEqual(65535);
        expect(typeof env.ipMasq).toBe('boolean');
        if (env.subnet) expect(Number(env.subnet.split('/')[1])).toBeLessThanOrEqual(30);
        if (env.ipv6Subnet) expect(Number(env.ipv6Subnet.split('/')[1])).toBeLessThanOrEqual(126);
      }),
      800,
    );
  });

  // A valid file in any of the ways a person or a tool could write it.
  const validFile = fc.record({
    octet: fc.integer({ min: 0, max: 255 }),
    prefix: fc.integer({ min: 16, max: 30 }),
    mtu: fc.integer({ min: 68, max: 65535 }),
    masq: fc.boolean(),
    eol: fc.constantFrom('\n', '\r\n'),
    noise: fc.array(fc.constantFrom('', '# written by flanneld', '   # indented comment', 'FLANNEL_UNKNOWN=x', 'export PATH=/bin', '   '), { maxLength: 4 }),
    pad: fc.constantFrom('', ' ', '\t'),
    order: fc.boolean(),
  });

  it('CRLF, comments, blank lines, unknown keys and padding all parse to the same thing', () => {
    check(
      fc.property(validFile, ({ octet, prefix, mtu, masq, eol, noise, pad, order }) => {
        const lines = [`FLANNEL_NETWORK=10.0.0.0/8`, `FLANNEL_SUBNET=10.${octet}.0.1/${prefix}`, `FLANNEL_MTU=${mtu}`, `FLANNEL_IPMASQ=${masq}`].map((l) => `${pad}${l}${pad}`);
        const all = order ? [...noise, ...lines] : [...lines, ...noise];
        const env = parseSubnetEnv(all.join(eol) + eol, FILE);
        const v = ((10n << 24n) | (BigInt(octet) << 16n) | 1n) & ~((1n << BigInt(32 - prefix)) - 1n);
        const quad = [24n, 16n, 8n, 0n].map((sh) => (v >> sh) & 255n).join('.');
        expect(env).toEqual({
          networks: ['10.0.0.0/8'],
          subnet: `${quad}/${prefix}`,
          ipv6Networks: [],
          mtu,
          ipMasq: masq,
        });
      }),
      300,
    );
  });

  it('each key given garbage: code 7 naming that key and the line', () => {
    const good: Record<string, string> = { FLANNEL_NETWORK: '10.1.0.0/16', FLANNEL_SUBNET: '10.1.17.1/24', FLANNEL_MTU: '1450', FLANNEL_IPMASQ: 'true' };
    check(
      fc.property(fc.constantFrom('FLANNEL_NETWORK', 'FLANNEL_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET'), fc.oneof(nastyString, fc.constantFrom('10.1.0.0', 'fd00::/64', '10.1.0.0/33', '1450.5', '67', '65536', '-1', '1e3')), (key, garbage) => {
        const text = Object.entries({ ...good, [key]: garbage }).map(([k, v]) => `${k}=${v}`).join('\n');
        const r = outcome(() => parseSubnetEnv(text, FILE));
        if (r.ok) return; // the garbage happened to be valid for that key
        expect(r.err.code).toBe(Code.InvalidConfig);
        expect(r.err.message).toContain(key);
        expect(r.err.message).toMatch(/line \d+/);
      }),
      500,
    );
  });

  it('an IPv6 FLANNEL_SUBNET, a /31 and a /32 are code 7 naming FLANNEL_SUBNET', () => {
    const base = 'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';
    for (const [subnet, why] of [
      ['fd00::1/64', 'IPv4'],
      ['10.1.17.0/31', 'too small'],
      ['10.1.17.1/32', 'too small'],
    ]) {
      const e = failure(() => parseSubnetEnv(`${base}FLANNEL_SUBNET=${subnet}\n`, FILE));
      expect(e.code).toBe(Code.InvalidConfig);
      expect(e.message).toContain('FLANNEL_SUBNET');
      expect(e.message).toContain(why);
    }
    for (const subnet of ['fd00::/127', 'fd00::1/128']) {
      const e = failure(() => parseSubnetEnv(`FLANNEL_IPV6_NETWORK=fd00::/48\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\nFLANNEL_IPV6_SUBNET=${subnet}\n`, FILE));
      expect(e.message).toContain('FLANNEL_IPV6_SUBNET');
      expect(e.message).toContain('too small');
    }
    // The smallest usable ones still work: one gateway and one pod.
    expect(parseSubnetEnv(`${base}FLANNEL_SUBNET=10.1.17.1/30\n`, FILE).subnet).toBe('10.1.17.0/30');
  });
});
