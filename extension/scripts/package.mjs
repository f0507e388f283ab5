// Writes dist/shoplens-extension-VERSION.zip: what a user loads or uploads to a store.
// Only the extension's own files go in (no tests, no node_modules); a small zip writer
// on Node's zlib keeps the build free of dependencies.
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import * as zlib from "node:zlib";

const ROOT = new URL("..", import.meta.url).pathname;
const SHIPPED = ["manifest.json", "service_worker.js", "content.js", "badges.js", "popup.html", "popup.js",
  "popup.css", "options.html", "options.js", "options.css", "lib", "icons"];

function files(path) {
  return statSync(path).isDirectory() ? readdirSync(path).sort().flatMap((name) => files(join(path, name))) : [path];
}

// zlib.crc32 arrived in Node 20.15; Debian's Node 18 needs the table.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = zlib.crc32 || ((data) => {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
});

function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const packed = zlib.deflateRawSync(data, { level: 9 });
    const nameBytes = Buffer.from(name);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(8, 8); // deflate
    header.writeUInt32LE(0x00210000, 10); // 1980-01-01 00:00: builds are byte-for-byte repeatable
    header.writeUInt32LE(crc32(data), 14);
    header.writeUInt32LE(packed.length, 18);
    header.writeUInt32LE(data.length, 22);
    header.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    header.copy(central, 8, 6, 30); // flags, method, time, crc, sizes, name length
    central.writeUInt32LE(offset, 42);
    locals.push(header, nameBytes, packed);
    centrals.push(central, nameBytes);
    offset += header.length + nameBytes.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const { version } = JSON.parse(readFileSync(join(ROOT, "manifest.json"), "utf8"));
const entries = SHIPPED.flatMap((item) => files(join(ROOT, item)))
  .map((path) => ({ name: relative(ROOT, path), data: readFileSync(path) }));
mkdirSync(join(ROOT, "dist"), { recursive: true });
const out = join(ROOT, "dist", `shoplens-extension-${version}.zip`);
writeFileSync(out, zip(entries));
console.log(`${out} (${entries.length} files)`);
