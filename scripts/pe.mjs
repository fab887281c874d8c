// Just enough of the PE32+ format (Windows x64 executables) for the release: removeSignature does
// what `signtool remove /s` does — it clears the certificate table directory entry and cuts the
// Authenticode signature off the end of the file — so that the SEA injection does not leave a
// broken signature behind (Node's single-executable docs, Windows steps).
const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
const PE32_PLUS = 0x20b;
const DIRECTORY_RESOURCE = 2;
const DIRECTORY_SECURITY = 4;
const RT_RCDATA = 10;

function layout(buf) {
  if (buf.length < 0x40 || buf.toString('latin1', 0, 2) !== 'MZ') throw new Error('not a PE file (no MZ header)');
  const pe = buf.readUInt32LE(0x3c);
  if (buf.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new Error('not a PE file (no PE signature)');
  const machine = buf.readUInt16LE(pe + 4);
  const opt = pe + 24;
  if (buf.readUInt16LE(opt) !== PE32_PLUS) throw new Error('not a PE32+ (64-bit) executable');
  const dirs = opt + 112;
  const count = buf.readUInt32LE(opt + 108);
  const sections = [];
  const first = opt + buf.readUInt16LE(pe + 20);
  for (let i = 0; i < buf.readUInt16LE(pe + 6); i++) {
    const h = first + i * 40;
    sections.push({ va: buf.readUInt32LE(h + 12), size: Math.max(buf.readUInt32LE(h + 8), buf.readUInt32LE(h + 16)), raw: buf.readUInt32LE(h + 20) });
  }
  const resources = DIRECTORY_RESOURCE < count ? buf.readUInt32LE(dirs + DIRECTORY_RESOURCE * 8) : 0;
  return { machine, subsystem: buf.readUInt16LE(opt + 68), security: DIRECTORY_SECURITY < count ? dirs + DIRECTORY_SECURITY * 8 : undefined, sections, resources };
}

function fileOffset(sections, rva) {
  const s = sections.find((x) => rva >= x.va && rva < x.va + x.size);
  if (!s) throw new Error(`RVA 0x${rva.toString(16)} is in no section`);
  return s.raw + (rva - s.va);
}

/**
 * Where the resource `name` of type RT_RCDATA lies in the file (what Node's SEA looks up on
 * Windows: the blob postject adds as resource NODE_SEA_BLOB), or undefined when there is none.
 */
export function rcdataResource(buf, name) {
  const l = layout(buf);
  if (!l.resources) return undefined;
  const base = fileOffset(l.sections, l.resources);
  const entries = (dir) => {
    const n = buf.readUInt16LE(base + dir + 12) + buf.readUInt16LE(base + dir + 14);
    return Array.from({ length: n }, (_, i) => {
      const e = base + dir + 16 + i * 8;
      const id = buf.readUInt32LE(e);
      const to = buf.readUInt32LE(e + 4);
      let label = id;
      if (id & 0x80000000) {
        const str = base + (id & 0x7fffffff);
        label = buf.toString('utf16le', str + 2, str + 2 + buf.readUInt16LE(str) * 2);
      }
      return { label, subdir: (to & 0x80000000) !== 0, offset: to & 0x7fffffff };
    });
  };
  const type = entries(0).find((e) => e.label === RT_RCDATA && e.subdir);
  const named = type && entries(type.offset).find((e) => e.label === name && e.subdir);
  const lang = named && entries(named.offset)[0];
  if (!lang || lang.subdir) return undefined;
  const data = base + lang.offset;
  return { offset: fileOffset(l.sections, buf.readUInt32LE(data)), size: buf.readUInt32LE(data + 4) };
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
