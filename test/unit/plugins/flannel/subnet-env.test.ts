import { cniError as failure } from '../../lib/ipam/helpers';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import { parseSubnetEnv, readSubnetEnv } from '../../../../plugins/flannel/subnet-env';

const P = '/run/flannel/subnet.env';


const CLASSIC = 'FLANNEL_NETWORK=172.16.0.0/16\nFLANNEL_SUBNET=172.16.99.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

describe('parseSubnetEnv', () => {
  it('reads all six keys of a dual-stack file as flanneld writes it', () => {
    const text =
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\n' +
      'FLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n';
    expect(parseSubnetEnv(text, P)).toEqual({
      networks: ['10.244.0.0/16'],
      subnet: '10.244.3.0/24',
      ipv6Networks: ['fd00:10:244::/56'],
      ipv6Subnet: 'fd00:10:244:3::/64',
      mtu: 1450,
      ipMasq: false,
    });
  });

  it('masks host bits off the subnets (and networks)', () => {
    const env = parseSubnetEnv(CLASSIC.replace('172.16.0.0/16', '172.16.5.5/16'), P);
    expect(env.subnet).toBe('172.16.99.0/24');
    expect(env.networks).toEqual(['172.16.0.0/16']);
  });

  it('splits comma lists, trims items, drops duplicates and keeps order', () => {
    const text = CLASSIC.replace('FLANNEL_NETWORK=172.16.0.0/16', 'FLANNEL_NETWORK=10.1.0.0/16, 192.168.0.0/16,10.1.0.0/16,10.1.2.3/16');
    expect(parseSubnetEnv(text, P).networks).toEqual(['10.1.0.0/16', '192.168.0.0/16']);
    const v6 = parseSubnetEnv('FLANNEL_IPV6_NETWORK=fc00::/48,fc01::/48,fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=true', P);
    expect(v6.ipv6Networks).toEqual(['fc00::/48', 'fc01::/48']);
    expect(v6.networks).toEqual([]);
    expect(v6.subnet).toBeUndefined();
    expect(v6.ipv6Subnet).toBe('fc00::/64');
  });

  it('accepts CRLF, surrounding blanks, comments, blank lines and unknown keys', () => {
    const text = '# written by hand\r\n\r\n  FLANNEL_NETWORK = 172.16.0.0/16 \r\nFLANNEL_SUBNET=172.16.99.1/24\r\nFOO=bar\r\nnot a key line\r\nFLANNEL_MTU=1450\r\nFLANNEL_IPMASQ=true\r\n';
    expect(parseSubnetEnv(text, P)).toEqual({ networks: ['172.16.0.0/16'], subnet: '172.16.99.0/24', ipv6Networks: [], mtu: 1450, ipMasq: true });
  });

  it('IPMASQ is true only for exactly "true"', () => {
    for (const [v, want] of [['true', true], ['True', false], ['1', false], ['yes', false], ['', false], [' true ', true]] as const) {
      expect(parseSubnetEnv(CLASSIC.replace('FLANNEL_IPMASQ=true', `FLANNEL_IPMASQ=${v}`), P).ipMasq).toBe(want);
    }
  });

  it('a known key without "=" is a config error naming the line', () => {
    const e = failure(() => parseSubnetEnv(CLASSIC.replace('FLANNEL_MTU=1450', 'FLANNEL_MTU'), P));
    expect(e.code).toBe(Code.InvalidConfig);
    expect(e.message).toContain(`${P} line 3`);
    expect(e.message).toContain('"FLANNEL_MTU"');
  });

  it('lists exactly the missing keys, in a fixed order, as "try again later"', () => {
    const empty = failure(() => parseSubnetEnv('', P));
    expect(empty.code).toBe(Code.TryAgainLater);
    expect(empty.message).toMatch(
      new RegExp(`^${P} is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ;`),
    );
    expect(empty.message).toContain('flanneld is running');

    const noMtuMasq = failure(() => parseSubnetEnv('FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.1.0.1/24\n', P));
    expect(noMtuMasq.message).toMatch(new RegExp(`^${P} is missing FLANNEL_MTU, FLANNEL_IPMASQ;`));

    const noSubnets = failure(() => parseSubnetEnv('FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', P));
    expect(noSubnets.code).toBe(Code.TryAgainLater);
    expect(noSubnets.message).toMatch(new RegExp(`^${P} is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET;`));

    const comments = failure(() => parseSubnetEnv('# FLANNEL_MTU=1450\n\n', P));
    expect(comments.message).toContain('FLANNEL_MTU, FLANNEL_IPMASQ');
  });

  it('rejects an MTU that is not a number from 68 to 65535', () => {
    for (const v of ['abc', '14x0', '-1', '67', '65536', '', '1e3']) {
      const e = failure(() => parseSubnetEnv(CLASSIC.replace('FLANNEL_MTU=1450', `FLANNEL_MTU=${v}`), P));
      expect(e.code).toBe(Code.InvalidConfig);
      expect(e.message).toContain(`FLANNEL_MTU "${v}"`);
      expect(e.message).toContain(P);
    }
    expect(parseSubnetEnv(CLASSIC.replace('1450', '68'), P).mtu).toBe(68);
    expect(parseSubnetEnv(CLASSIC.replace('1450', '65535'), P).mtu).toBe(65535);
  });

  it('rejects a subnet or network of the wrong family, and garbage CIDRs', () => {
    const v6in4 = failure(() => parseSubnetEnv(CLASSIC.replace('172.16.99.1/24', 'fc00::1/64'), P));
    expect(v6in4.code).toBe(Code.InvalidConfig);
    expect(v6in4.message).toContain('FLANNEL_SUBNET "fc00::1/64"');
    const v4in6 = failure(() => parseSubnetEnv(`${CLASSIC}FLANNEL_IPV6_SUBNET=10.0.0.1/24\n`, P));
    expect(v4in6.message).toContain('FLANNEL_IPV6_SUBNET "10.0.0.1/24"');
    const net = failure(() => parseSubnetEnv(CLASSIC.replace('172.16.0.0/16', '172.16.0.0/16,nope'), P));
    expect(net.code).toBe(Code.InvalidConfig);
    expect(net.message).toContain('"nope" is not a CIDR');
    expect(failure(() => parseSubnetEnv(CLASSIC.replace('172.16.99.1/24', '172.16.99.1'), P)).code).toBe(Code.InvalidConfig);
  });
});

describe('readSubnetEnv', () => {
  it('a missing file is "try again later" naming the file and flanneld', () => {
    const file = path.join(os.tmpdir(), `no-such-subnet-${process.pid}.env`);
    const e = failure(() => readSubnetEnv(file));
    expect(e.code).toBe(Code.TryAgainLater);
    expect(e.message).toContain(file);
    expect(e.message).toContain('no such file or directory');
    expect(e.message).toContain('flanneld is running on this node');
  });

  it('reads and parses an existing file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flannel-env-'));
    try {
      fs.writeFileSync(path.join(dir, 'subnet.env'), CLASSIC);
      expect(readSubnetEnv(path.join(dir, 'subnet.env')).subnet).toBe('172.16.99.0/24');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
