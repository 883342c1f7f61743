import { describe, expect, it } from 'vitest';
import { checkHost, compareHostVersions, parseCpuFlags, parseRequirements } from '../../../../tools/install/requirements';

const req = parseRequirements('# comment\nARCH="amd64"\nKERNEL="4.18"\nGLIBC="2.17"\nCPU="sse4_2 popcnt"\nTARGET="bun-linux-x64-baseline"\n');
const good = { arch: 'amd64', kernel: '6.1.0-13-amd64', glibc: '2.36', cpu: ['fpu', 'sse4_2', 'popcnt'] };

describe('host requirements', () => {
  it('parses the file the build writes', () => {
    expect(req).toEqual({ arch: 'amd64', kernel: '4.18', glibc: '2.17', cpu: ['sse4_2', 'popcnt'] });
    expect(parseRequirements('ARCH="arm64"\nKERNEL="4.18"\nGLIBC="2.17"\nCPU=""\n').cpu).toEqual([]);
    expect(() => parseRequirements('ARCH="arm64"\n')).toThrow(/no KERNEL/);
  });

  it('compares kernel and glibc versions by number, ignoring a distribution suffix', () => {
    expect(compareHostVersions('4.18.0-553.el8_10.x86_64', '4.18')).toBe(0);
    expect(compareHostVersions('4.9.0', '4.18')).toBe(-1);
    expect(compareHostVersions('6.18.44-fc-v1147', '4.18')).toBe(1);
    expect(compareHostVersions('2.17', '2.17')).toBe(0);
  });

  it('accepts a node that has everything', () => {
    expect(checkHost(req, good)).toEqual([]);
    // Inside the image the node's C library is not visible: it is not checked there.
    expect(checkHost(req, { ...good, glibc: undefined })).toEqual([]);
  });

  it('names every shortfall', () => {
    expect(checkHost(req, { ...good, kernel: '3.10.0-1160.el7.x86_64' })).toEqual(['kernel 3.10.0-1160.el7.x86_64 is older than 4.18, the oldest this build supports']);
    expect(checkHost(req, { ...good, glibc: '2.12' })).toEqual(['glibc 2.12 is older than 2.17, which the executable links against']);
    expect(checkHost(req, { ...good, arch: 'arm64', cpu: ['asimd'] })).toEqual(['this build is for amd64, the node is arm64: use the arm64 build']);
    expect(checkHost(req, { ...good, cpu: ['fpu'] })[0]).toMatch(/the CPU lacks sse4_2, popcnt/);
    const avx2 = parseRequirements('ARCH="amd64"\nKERNEL="4.18"\nGLIBC="2.17"\nCPU="sse4_2 avx2"\n');
    expect(checkHost(avx2, good)[0]).toMatch(/lacks avx2.*release build for any x86-64/);
  });

  it('reads CPU features from /proc/cpuinfo on x86 and arm64', () => {
    expect(parseCpuFlags('processor\t: 0\nflags\t\t: fpu vme sse4_2 avx2\n')).toEqual(['fpu', 'vme', 'sse4_2', 'avx2']);
    expect(parseCpuFlags('processor\t: 0\nFeatures\t: fp asimd evtstrm crc32\n')).toEqual(['fp', 'asimd', 'evtstrm', 'crc32']);
    expect(parseCpuFlags('processor\t: 0\n')).toBeUndefined();
  });
});
