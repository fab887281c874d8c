// Shrinks the ICU data that official Node builds embed (full-icu: 33 MB, every locale) to the
// data of the root and English locales plus what is not locale data (character properties,
// normalization, collation root, time zones, break rules, charset converters); the
// transliterators and the word-break dictionaries go too (see isDropped). It saves about 8.6 MB
// of every archive.
// Other locales fall back instead of failing: a requested one to English, a default one (LANG)
// to the root locale (dates as 1970-01-01).
//
// The data is one ICU "common data" package (format CmnD): a header, a table of contents of
// item names and offsets, then the items, each 16-byte aligned. The package is rewritten with
// the kept items only, in place, and the bytes it no longer needs are zeroed. ICU reads the
// package through its table of contents, so the zeros are never read.
// ICU's own icupkg is not used: Debian 12's (ICU 72) rewrites ICU 78 items in a form ICU 78
// cannot read (measured: Intl.NumberFormat then fails with "Icu error").

/** Locale ids whose data stays. en_US_POSIX is the default under LANG=C; en_001 is a parent. */
export const KEPT_LOCALES = ['root', 'en', 'en_US', 'en_US_POSIX', 'en_001'];

const SIGNATURE = Buffer.from([0xda, 0x27, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x43, 0x6d, 0x6e, 0x44, 0x01, 0x00]);

/** Offset of the one ICU common data package in `buf`; throws unless there is exactly one. */
export function findIcuData(buf) {
  const hits = [];
  for (let i = buf.indexOf(SIGNATURE); i !== -1; i = buf.indexOf(SIGNATURE, i + 1)) hits.push(i - 2);
  if (hits.length !== 1) throw new Error(`expected one ICU common data package in the runtime, found ${hits.length}`);
  return hits[0];
}

function items(buf, start) {
  const headerSize = buf.readUInt16LE(start);
  const toc = start + headerSize;
  const count = buf.readUInt32LE(toc);
  const list = [];
  for (let i = 0; i < count; i++) {
    const nameOff = toc + buf.readUInt32LE(toc + 4 + i * 8);
    const dataOff = toc + buf.readUInt32LE(toc + 8 + i * 8);
    list.push({ name: buf.toString('latin1', nameOff, buf.indexOf(0, nameOff)), offset: dataOff });
  }
  for (let i = 1; i < count; i++) if (list[i].offset <= list[i - 1].offset) throw new Error('ICU data items are not in offset order');
  // The package's end: the last item is a resource bundle (ResB) whose indexes give its length.
  const last = list[count - 1];
  const itemHeader = buf.readUInt16LE(last.offset);
  if (buf.toString('latin1', last.offset + 12, last.offset + 16) !== 'ResB') throw new Error(`the last ICU data item ${last.name} is not a resource bundle`);
  const bundleTop = buf.readInt32LE(last.offset + itemHeader + 4 + 3 * 4);
  const end = Math.ceil((last.offset + itemHeader + bundleTop * 4) / 16) * 16;
  for (let i = 0; i < count; i++) list[i].length = (i + 1 < count ? list[i + 1].offset : end) - list[i].offset;
  return { headerSize, list, length: end - start };
}

/**
 * Whether an item goes: locale data of a locale not kept (`<tree>/<locale>.res`, `<locale>.res`),
 * the transliterators (translit/), which neither V8 nor Node exposes, and the word dictionaries
 * of Chinese, Japanese, Thai, Lao, Khmer and Burmese (brkitr/*.dict, 2.3 MB compressed): without
 * them Intl.Segmenter splits text in those scripts by the rules alone. Nothing here segments text.
 */
export function isDropped(name) {
  if (name.startsWith('translit/') || /^brkitr\/.*\.dict$/.test(name)) return true;
  const base = name.split('/').pop();
  const m = /^([a-z]{2,3}(?:_[A-Za-z0-9]*)*)\.res$/.exec(base);
  if (!m || base === 'res_index.res') return false;
  return !KEPT_LOCALES.includes(m[1]);
}

/**
 * Rewrites the ICU data inside `buf` (a Node executable) in place with the kept items only.
 * Returns the package's old and new length and the number of items kept and dropped.
 */
export function trimIcu(buf) {
  const start = findIcuData(buf);
  const { headerSize, list, length } = items(buf, start);
  const kept = list.filter((it) => !isDropped(it.name.replace(/^icudt\d+[lb]\//, '')));
  const names = kept.map((it) => Buffer.from(`${it.name}\0`, 'latin1'));
  const tocSize = 4 + kept.length * 8;
  const namesSize = names.reduce((n, b) => n + b.length, 0);
  let pos = tocSize + namesSize;
  pos += (16 - ((headerSize + pos) % 16)) % 16;
  const out = Buffer.alloc(length);
  buf.copy(out, 0, start, start + headerSize);
  out.writeUInt32LE(kept.length, headerSize);
  let nameAt = tocSize;
  kept.forEach((it, i) => {
    out.writeUInt32LE(nameAt, headerSize + 4 + i * 8);
    names[i].copy(out, headerSize + nameAt);
    nameAt += names[i].length;
    out.writeUInt32LE(pos, headerSize + 8 + i * 8);
    buf.copy(out, headerSize + pos, it.offset, it.offset + it.length);
    pos += it.length;
  });
  const newLength = headerSize + pos;
  if (newLength > length) throw new Error('the trimmed ICU data would be larger than the original');
  out.copy(buf, start);
  return { start, oldLength: length, newLength, kept: kept.length, dropped: list.length - kept.length };
}
