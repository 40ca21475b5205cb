// Brastel's own way of decoding a ws_cti frame, timed in node for benchmarks/e2e.py.
//
// Written for this benchmark after reading brastelcloud/basix_ws_cti.js (MIT, (c) 2016
// brastelcloud): lib/message_parser.js turns each frame into a "binary" string
// (`buffer.toString('binary')`) and hands it to lib/bert.js, BERT-JS by Rusty Klophaus (MIT,
// 2009). That decoder reads one term at a time from the front of the string and returns the
// value with the rest of the string (`substring` after every term); atoms, binaries and tuples
// become small wrapper objects; only the old ETF subset is known (Latin-1 atoms, no maps, no
// NEW_FLOAT_EXT, no compression). This file does the same work the same way, so that the
// comparison is with what Brastel's web app runs, not with a tuned JS decoder.
//
// Usage: node brastel_decode.js FRAMES_FILE ROUNDS
// FRAMES_FILE holds frames as 4-byte big-endian length + bytes. Prints JSON: seconds per round.
"use strict";

const fs = require("fs");

function Atom(v) { this.type = "Atom"; this.value = v; }
function Binary(v) { this.type = "Binary"; this.value = v; }
function Tuple(items) {
  this.type = "Tuple"; this.length = items.length; this.value = items;
  for (let i = 0; i < items.length; i++) this[i] = items[i];
}

function readInt(s, n) {
  // Big-endian, with the first byte above 128 read as negative, as BERT-JS does.
  const neg = s.charCodeAt(0) > 128;
  let num = 0;
  for (let i = 0; i < n; i++) {
    let b = s.charCodeAt(i);
    if (neg) b = 255 - b;
    num = num === 0 ? b : num * 256 + b;
  }
  return neg ? -num - 1 : num;
}

function readBig(s, n) {
  const neg = s.charCodeAt(0) === 1;
  s = s.substring(1);
  let num = 0;
  for (let i = n - 1; i >= 0; i--) {
    const b = s.charCodeAt(i);
    num = num === 0 ? b : num * 256 + b;
  }
  return neg ? -num : num;
}

function term(s) {
  const tag = s.charCodeAt(0);
  s = s.substring(1);
  let size, items, el;
  switch (tag) {
    case 115: case 100: {  // SMALL_ATOM_EXT, ATOM_EXT
      const w = tag === 115 ? 1 : 2;
      size = readInt(s, w); s = s.substring(w);
      let v = s.substring(0, size);
      if (v === "true") v = true; else if (v === "false") v = false;
      return { value: new Atom(v), rest: s.substring(size) };
    }
    case 109:  // BINARY_EXT
      size = readInt(s, 4); s = s.substring(4);
      return { value: new Binary(s.substring(0, size)), rest: s.substring(size) };
    case 97:
      return { value: readInt(s, 1), rest: s.substring(1) };
    case 98:
      return { value: readInt(s, 4), rest: s.substring(4) };
    case 110: case 111: {
      const w = tag === 110 ? 1 : 4;
      size = readInt(s, w); s = s.substring(w);
      return { value: readBig(s, size), rest: s.substring(size + 1) };
    }
    case 99:
      return { value: parseFloat(s.substring(0, 31)), rest: s.substring(31) };
    case 107:
      size = readInt(s, 2); s = s.substring(2);
      return { value: s.substring(0, size), rest: s.substring(size) };
    case 108:
      size = readInt(s, 4); s = s.substring(4); items = [];
      for (let i = 0; i < size; i++) { el = term(s); items.push(el.value); s = el.rest; }
      if (s.charCodeAt(0) !== 106) throw new Error("List does not end with NIL");
      return { value: items, rest: s.substring(1) };
    case 104: case 105: {
      const w = tag === 104 ? 1 : 4;
      size = readInt(s, w); s = s.substring(w); items = [];
      for (let i = 0; i < size; i++) { el = term(s); items.push(el.value); s = el.rest; }
      return { value: new Tuple(items), rest: s };
    }
    case 106:
      return { value: [], rest: s };
    default:
      throw new Error("Unexpected BERT type: " + tag);
  }
}

function decode(buffer) {
  const s = buffer.toString("binary");
  if (s.charCodeAt(0) !== 131) throw new Error("Not a valid BERT");
  const out = term(s.substring(1));
  if (out.rest !== "") throw new Error("Invalid BERT");
  return out.value;
}

const data = fs.readFileSync(process.argv[2]);
const rounds = parseInt(process.argv[3] || "9", 10);
const frames = [];
for (let at = 0; at < data.length;) {
  const n = data.readUInt32BE(at);
  frames.push(data.subarray(at + 4, at + 4 + n));
  at += 4 + n;
}
for (const f of frames) decode(f);  // warm up the JIT, as a page that has run a while is
const times = [];
for (let r = 0; r < rounds; r++) {
  const t0 = process.hrtime.bigint();
  for (const f of frames) decode(f);
  times.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
process.stdout.write(JSON.stringify({ node: process.version, seconds: times }) + "\n");
