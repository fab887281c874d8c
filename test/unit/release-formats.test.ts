// The executable-format helpers of the release (scripts/macho.mjs, scripts/pe.mjs, scripts/icu.mjs)
// on small hand-made files; the packaging e2e test runs them on the real Node binaries.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript build scripts without type declarations
import { isDropped } from '../../scripts/icu.mjs';
// @ts-expect-error see above
import * as macho from '../../scripts/macho.mjs';
// @ts-expect-error see above
import * as pe from '../../scripts/pe.mjs';

/** A thin x86-64 Mach-O: LC_CODE_SIGNATURE first, then __TEXT and __LINKEDIT, the signature last. */
function machO(sigSize = 64): Buffer {
  const cmds = 16 + 72 + 72;
  const linkeditOff = 0x1000;
  const dataoff = linkeditOff + 0x100;
  const b = Buffer.alloc(dataoff + sigSize, 0xab);
  b.fill(0, 0, linkeditOff);
  b.writeUInt32LE(0xfeedfacf, 0);
  b.writeUInt32LE(macho.CPU_TYPE_X86_64, 4);
  b.writeUInt32LE(2, 12); // MH_EXECUTE
  b.writeUInt32LE(3, 16);
  b.writeUInt32LE(cmds, 20);
  let o = 32;
  b.writeUInt32LE(0x1d, o); b.writeUInt32LE(16, o + 4); b.writeUInt32LE(dataoff, o + 8); b.writeUInt32LE(sigSize, o + 12);
  o += 16;
  const seg = (name: string, fileoff: number, filesize: number) => {
    b.writeUInt32LE(0x19, o); b.writeUInt32LE(72, o + 4); b.write(name, o + 8, 'latin1');
    b.writeBigUInt64LE(BigInt(filesize), o + 32); b.writeBigUInt64LE(BigInt(fileoff), o + 40); b.writeBigUInt64LE(BigInt(filesize), o + 48);
    b.writeUInt32LE(1, o + 60);
    o += 72;
  };
  seg('__TEXT', 0, linkeditOff);
  seg('__LINKEDIT', linkeditOff, b.length - linkeditOff);
  return b;
}

describe('Mach-O signature removal', () => {
  it('drops LC_CODE_SIGNATURE, moves the later commands up, shrinks __LINKEDIT and cuts the signature off', () => {
    const b = machO();
    const u = macho.removeSignature(b);
    expect(u.length).toBe(0x1100);
    expect(u.readUInt32LE(16)).toBe(2);
    expect(u.readUInt32LE(20)).toBe(144);
    const info = macho.inspect(u);
    expect(info.signature).toBeUndefined();
    expect(info.segments.map((s: any) => [s.name, s.fileoff, s.filesize])).toEqual([['__TEXT', 0, 0x1000], ['__LINKEDIT', 0x1000, 0x100]]);
    expect(info.linkeditEndsFile).toBe(true);
    expect(u.subarray(32 + 144, 32 + 160).every((x: number) => x === 0)).toBe(true);
    expect(b.readUInt32LE(16)).toBe(3); // the input is left alone
  });

  it('refuses a signature that does not end the file, and a fat file', () => {
    const b = Buffer.concat([machO(), Buffer.alloc(16)]);
    expect(() => macho.removeSignature(b)).toThrow('the code signature is not at the end of the file');
    const fat = Buffer.alloc(64);
    fat.writeUInt32BE(0xcafebabe, 0);
    expect(() => macho.inspect(fat)).toThrow('universal (fat)');
  });

  it('checks an embedded signature page by page', () => {
    // One ad-hoc CodeDirectory over the 0x1100 bytes before the signature, 4 KiB pages.
    const pages = 2;
    const cdLen = 88 + 'kubectl-milvus\0'.length + pages * 32;
    const sig = Buffer.alloc(20 + cdLen);
    sig.writeUInt32BE(0xfade0cc0, 0); sig.writeUInt32BE(sig.length, 4); sig.writeUInt32BE(1, 8);
    sig.writeUInt32BE(0, 12); sig.writeUInt32BE(20, 16);
    const cd = sig.subarray(20);
    cd.writeUInt32BE(0xfade0c02, 0); cd.writeUInt32BE(cdLen, 4); cd.writeUInt32BE(0x20400, 8); cd.writeUInt32BE(macho.CS_ADHOC, 12);
    cd.writeUInt32BE(88 + 15, 16); cd.writeUInt32BE(88, 20); cd.writeUInt32BE(pages, 28); cd.writeUInt32BE(0x1100, 32);
    cd[36] = 32; cd[37] = 2; cd[39] = 12;
    cd.write('kubectl-milvus\0', 88, 'latin1');
    const b = machO(sig.length);
    const file = Buffer.concat([b.subarray(0, 0x1100), sig]);
    for (let i = 0; i < pages; i++) createHash('sha256').update(file.subarray(i * 4096, Math.min((i + 1) * 4096, 0x1100))).digest().copy(file, 0x1100 + 20 + 103 + i * 32);
    expect(macho.inspect(file).signature).toMatchObject({ valid: true, flags: macho.CS_ADHOC, identifier: 'kubectl-milvus', pages: 2 });
    file.writeUInt8(file.readUInt8(0x1000) ^ 1, 0x1000); // a byte of the second page changes
    expect(macho.inspect(file).signature).toMatchObject({ valid: false, problem: 'page 1 does not match its hash' });
  });
});

/** A PE32+ x64 console executable whose certificate table (16 bytes) ends the file. */
function peFile(certAtEnd = true): Buffer {
  const b = Buffer.alloc(0x400 + 16 + (certAtEnd ? 0 : 8));
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x40, 0x3c);
  b.write('PE\0\0', 0x40, 'latin1');
  b.writeUInt16LE(0x8664, 0x44);
  const opt = 0x40 + 24;
  b.writeUInt16LE(0x20b, opt);
  b.writeUInt16LE(3, opt + 68);
  b.writeUInt32LE(16, opt + 108);
  b.writeUInt32LE(0x400, opt + 112 + 4 * 8);
  b.writeUInt32LE(16, opt + 112 + 4 * 8 + 4);
  return b;
}

describe('PE signature removal', () => {
  it('clears the certificate table entry and cuts the table off', () => {
    const b = peFile();
    expect(pe.inspect(b)).toMatchObject({ amd64: true, console: true, signed: true, signature: { offset: 0x400, size: 16 } });
    const u = pe.removeSignature(b);
    expect(u.length).toBe(0x400);
    expect(pe.inspect(u)).toMatchObject({ signed: false, signature: { offset: 0, size: 0 } });
  });

  it('refuses a certificate table that does not end the file, and what is not PE32+', () => {
    expect(() => pe.removeSignature(peFile(false))).toThrow('not at the end of the file');
    expect(() => pe.inspect(Buffer.from('#!/bin/sh\n'.padEnd(128)))).toThrow('no MZ header');
  });
});

describe('ICU items kept in the embedded Node', () => {
  it.each([
    ['de.res', true], ['coll/de.res', true], ['coll/de_.res', true], ['coll/de__PHONEBOOK.res', true], ['zh_Hant_TW.res', true],
    ['translit/root.res', true], ['en.res', false], ['en_US.res', false], ['en_US_POSIX.res', false], ['root.res', false],
    ['coll/root.res', false], ['curr/res_index.res', false], ['pool.res', false], ['zone/tzdbNames.res', false],
    ['supplementalData.res', false], ['coll/ucadata.icu', false], ['brkitr/cjdict.dict', true], ['brkitr/thaidict.dict', true], ['brkitr/word.brk', false], ['brkitr/root.res', false], ['ibm-943_P15A-2003.cnv', false],
  ])('%s dropped: %s', (name, dropped) => {
    expect(isDropped(name)).toBe(dropped);
  });
});
