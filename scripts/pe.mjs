// Just enough of the PE32+ format (Windows x64 executables) for the release: removeSignature does
// what `signtool remove /s` does — it clears the certificate table directory entry and cuts the
// Authenticode signature off the end of the file — so that the SEA injection does not leave a
// broken signature behind (Node's single-executable docs, Windows steps).
const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const PE32_PLUS = 0x20b;
const DIRECTORY_SECURITY = 4;

function layout(buf) {
  if (buf.length < 0x40 || buf.toString('latin1', 0, 2) !== 'MZ') throw new Error('not a PE file (no MZ header)');
  const pe = buf.readUInt32LE(0x3c);
  if (buf.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new Error('not a PE file (no PE signature)');
  const machine = buf.readUInt16LE(pe + 4);
  const opt = pe + 24;
  if (buf.readUInt16LE(opt) !== PE32_PLUS) throw new Error('not a PE32+ (64-bit) executable');
  const dirs = opt + 112;
  const count = buf.readUInt32LE(opt + 108);
  return { machine, subsystem: buf.readUInt16LE(opt + 68), security: DIRECTORY_SECURITY < count ? dirs + DIRECTORY_SECURITY * 8 : undefined };
}

/** Facts the release checks: CPU, console subsystem, and where the signature is (if any). */
export function inspect(buf) {
  const l = layout(buf);
  const sig = l.security === undefined ? { offset: 0, size: 0 } : { offset: buf.readUInt32LE(l.security), size: buf.readUInt32LE(l.security + 4) };
  return { amd64: l.machine === IMAGE_FILE_MACHINE_AMD64, console: l.subsystem === 3, signed: sig.size > 0, signature: sig };
}

/** Returns a copy of `buf` without its Authenticode signature (unchanged copy when it has none). */
export function removeSignature(buf) {
  const l = layout(buf);
  const { signed, signature } = inspect(buf);
  if (!signed) return Buffer.from(buf);
  // The certificate table is the file's last part, 8-byte aligned after the sections.
  if (signature.offset + signature.size !== buf.length) throw new Error('the Authenticode signature is not at the end of the file');
  const out = Buffer.from(buf.subarray(0, signature.offset));
  out.writeUInt32LE(0, l.security);
  out.writeUInt32LE(0, l.security + 4);
  return out;
}
