// Reads frames the way Brastel's own client library (brastelcloud/basix_ws_cti.js, 2016-2026:
// lib/bert.js, lib/message_parser.js, lib/utils.js) does, with the same limits, to prove that a
// client built on it could read what the simulator sends. Written from the behaviour those files
// show, not copied from them:
//
// - a frame is read as a "binary" string (one char per byte) and must start with 131;
// - only these tags are known: 97, 98, 99 (31-char float), 100 and 115 (Latin-1 atoms), 104,
//   106, 107, 108 (ending in 106), 109, 110, 111; anything else (UTF-8 atoms, NEW_FLOAT_EXT,
//   maps, compressed terms...) throws, and LARGE_TUPLE_EXT (105) throws too (its reader is
//   missing there);
// - integers read their first byte as a sign (a quirk kept here: it changes values, not whether a
//   frame is read); the atoms true/false become booleans inside an atom object;
// - nothing may follow the term;
// - a message is dispatched by comparing its tag with a string (so atoms and charlists work,
//   binaries do not), field names are taken from `.value` (atoms and binaries), a record's
//   values are normalised (atoms to their names, `undefined` to undefined, tuples to arrays,
//   binaries to their raw strings).
//
// Input on stdin: a JSON array of base64 frames. Output: a JSON array, one entry per frame:
// {ok, error?, kind, entity, event, records: [{field: value}]}.

"use strict";

function Atom(value) { this.type = "Atom"; this.value = value; }
Atom.prototype.toString = function () { return String(this.value); };
function Binary(value) { this.type = "Binary"; this.value = value; }
Binary.prototype.toString = function () { return '<<"' + this.value + '">>'; };
function Tuple(items) { this.type = "Tuple"; this.items = items; this.length = items.length; }

function readInt(s, pos, width) {
  // Brastel's reader treats a first byte over 128 as negative, for every width.
  const negative = s.charCodeAt(pos) > 128;
  let n = 0;
  for (let i = 0; i < width; i++) {
    let b = s.charCodeAt(pos + i);
    if (negative) b = 255 - b;
    n = n * 256 + b;
  }
  return negative ? -n - 1 : n;
}

function read(s, pos) {
  const tag = s.charCodeAt(pos);
  pos += 1;
  switch (tag) {
    case 115: case 100: {
      const width = tag === 115 ? 1 : 2;
      const size = readInt(s, pos, width);
      let name = s.substring(pos + width, pos + width + size);
      if (name === "true") name = true; else if (name === "false") name = false;
      return [new Atom(name), pos + width + size];
    }
    case 109: {
      const size = readInt(s, pos, 4);
      return [new Binary(s.substring(pos + 4, pos + 4 + size)), pos + 4 + size];
    }
    case 97: return [readInt(s, pos, 1), pos + 1];
    case 98: return [readInt(s, pos, 4), pos + 4];
    case 110: case 111: {
      const width = tag === 110 ? 1 : 4;
      const size = readInt(s, pos, width);
      const sign = s.charCodeAt(pos + width);
      let n = 0;
      for (let i = size - 1; i >= 0; i--) n = n * 256 + s.charCodeAt(pos + width + 1 + i);
      return [sign === 1 ? -n : n, pos + width + 1 + size];
    }
    case 99: return [parseFloat(s.substring(pos, pos + 31)), pos + 31];
    case 107: {
      const size = readInt(s, pos, 2);
      return [s.substring(pos + 2, pos + 2 + size), pos + 2 + size];
    }
    case 108: {
      const count = readInt(s, pos, 4);
      pos += 4;
      const items = [];
      for (let i = 0; i < count; i++) {
        const [item, next] = read(s, pos);
        items.push(item);
        pos = next;
      }
      if (s.charCodeAt(pos) !== 106) throw new Error("List does not end with NIL!");
      return [items, pos + 1];
    }
    case 104: {
      const count = readInt(s, pos, 1);
      pos += 1;
      const items = [];
      for (let i = 0; i < count; i++) {
        const [item, next] = read(s, pos);
        items.push(item);
        pos = next;
      }
      return [new Tuple(items), pos];
    }
    case 105: throw new TypeError("this.decode_large_tuple is not a function");
    case 106: return [[], pos];
    default: throw new Error("Unexpected BERT type: " + tag);
  }
}

function decode(s) {
  if (s.charCodeAt(0) !== 131) throw new Error("Not a valid BERT.");
  const [value, end] = read(s, 1);
  if (end !== s.length) throw new Error("Invalid BERT.");
  return value;
}

function normalize(v) {
  if (v instanceof Atom) return v.value === "undefined" ? undefined : v.value;
  if (v instanceof Tuple) return v.items.map(normalize);
  if (v instanceof Binary) return v.value;
  if (Array.isArray(v)) return v.map(normalize);
  return v;
}

function isBertNil(v) {
  return v instanceof Tuple && v.length === 2 && String(v.items[0]) === "bert" &&
    String(v.items[1]) === "nil";
}

const specs = {};

function entityInfo(entity, record) {
  const fields = specs[entity];
  if (!fields) throw new Error("no field_spec for " + entity);
  if (!(record instanceof Tuple)) throw new Error("a record is not a tuple");
  if (record.length !== fields.length) {
    throw new Error(`${entity}: ${record.length} values for ${fields.length} fields`);
  }
  const info = {};
  fields.forEach((f, i) => { info[f] = normalize(record.items[i]); });
  return info;
}

function handle(m) {
  if (!(m instanceof Tuple)) throw new Error("not a message tuple");
  const kind = String(m.items[0]);
  const entity = m.length > 1 ? String(m.items[1]) : undefined;
  if (kind === "field_spec") {
    specs[entity] = m.items[2].map((f) => {
      if (f.value === undefined) throw new Error("a field name without .value");
      return f.value;
    });
    return { kind, entity, records: [] };
  }
  if (kind === "initial_info") {
    const records = isBertNil(m.items[2]) ? [] : m.items[2].map((r) => entityInfo(entity, r));
    return { kind, entity, records };
  }
  if (kind === "info_event") {
    return { kind, entity, event: String(m.items[3]), records: [entityInfo(entity, m.items[2])] };
  }
  if (kind === "system_msg" || kind === "msg") {
    return { kind, text: normalize(m.items[1]), records: [] };
  }
  throw new Error("Unknown message type '" + kind + "'");
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((b64) => {
    try {
      const s = Buffer.from(b64, "base64").toString("binary");
      return { ok: true, ...handle(decode(s)) };
    } catch (err) {
      return { ok: false, error: String(err) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
