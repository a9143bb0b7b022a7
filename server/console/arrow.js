// Silt console: reads an Arrow IPC stream (the answer of
// /api/v1/sql?format=arrow) into columns over the answer's own bytes.
//
// A JSON answer of 100k rows costs the browser 100k arrays and as many
// strings to parse, then a pass to turn them into numbers; an Arrow
// answer's float column is a Float64Array over the bytes as they came,
// and its times two 32-bit halves a loop turns into milliseconds. The
// reader knows what the server writes: one schema, record batches
// without compression, columns of timestamps, 64-bit integers and
// floats, booleans and UTF-8 strings.
"use strict";

(function () {
  // The Type union's members (Arrow's Schema.fbs) the reader knows.
  const T_INT = 2, T_FLOAT = 3, T_UTF8 = 5, T_BOOL = 6, T_TIMESTAMP = 10;
  const MSG_SCHEMA = 1, MSG_BATCH = 3;
  const TWO32 = 4294967296;
  const PER_SECOND = [1, 1e3, 1e6, 1e9]; // a timestamp unit (SECOND, MILLI, MICRO, NANO) per second

  // Flatbuffer tables, read in place (the format's little-endian offsets).
  class FB {
    constructor(dv) { this.dv = dv; }
    // slot is the position of a table's field i, or 0 when absent.
    slot(t, i) {
      const dv = this.dv, vt = t - dv.getInt32(t, true), o = 4 + 2 * i;
      return o < dv.getUint16(vt, true) ? dv.getUint16(vt + o, true) : 0;
    }
    u8(t, i, def) { const o = this.slot(t, i); return o ? this.dv.getUint8(t + o) : def; }
    i16(t, i, def) { const o = this.slot(t, i); return o ? this.dv.getInt16(t + o, true) : def; }
    i32(t, i, def) { const o = this.slot(t, i); return o ? this.dv.getInt32(t + o, true) : def; }
    i64(t, i) { const o = this.slot(t, i); return o ? this.long(t + o) : 0; }
    long(p) { return this.dv.getUint32(p, true) + this.dv.getInt32(p + 4, true) * TWO32; }
    ref(t, i) { const o = this.slot(t, i); if (!o) return 0; const p = t + o; return p + this.dv.getUint32(p, true); }
    // vec is a vector field: its length and first element's position.
    vec(t, i) { const p = this.ref(t, i); return p ? { n: this.dv.getUint32(p, true), at: p + 4 } : { n: 0, at: 0 }; }
    str(t, i) {
      const p = this.ref(t, i);
      if (!p) return "";
      return utf8.decode(new Uint8Array(this.dv.buffer, this.dv.byteOffset + p + 4, this.dv.getUint32(p, true)));
    }
  }

  const utf8 = new TextDecoder();

  function readSchema(fb, t) {
    const fields = [], v = fb.vec(t, 1);
    for (let k = 0; k < v.n; k++) {
      const e = v.at + 4 * k, f = e + fb.dv.getUint32(e, true);
      const tt = fb.u8(f, 2, 0), ty = fb.ref(f, 3);
      const field = { name: fb.str(f, 0), kind: "" };
      if (fb.vec(f, 5).n > 0) throw new Error("Arrow column " + field.name + " is nested: the console reads flat columns");
      if (tt === T_INT) {
        const bits = fb.i32(ty, 0, 0), signed = fb.u8(ty, 1, 0) !== 0;
        if (bits !== 64) throw new Error("Arrow column " + field.name + " has " + bits + "-bit integers: the console reads 64-bit ones");
        field.kind = signed ? "integer" : "unsigned";
      } else if (tt === T_FLOAT) {
        if (fb.i16(ty, 0, 0) !== 2) throw new Error("Arrow column " + field.name + " is not a double: the console reads 64-bit floats");
        field.kind = "float";
      } else if (tt === T_UTF8) {
        field.kind = "string";
      } else if (tt === T_BOOL) {
        field.kind = "boolean";
      } else if (tt === T_TIMESTAMP) {
        field.kind = "timestamp";
        field.perSecond = PER_SECOND[fb.i16(ty, 0, 0)];
      } else {
        throw new Error("Arrow column " + field.name + " is of type " + tt + ", which the console does not read");
      }
      fields.push(field);
    }
    return fields;
  }

  // view is a typed array of n elements at byte off of buf, over the
  // bytes when aligned for the type, else over a copy of them.
  function view(Type, buf, off, n) {
    if (off % Type.BYTES_PER_ELEMENT === 0) return new Type(buf, off, n);
    return new Type(buf.slice(off, off + n * Type.BYTES_PER_ELEMENT));
  }

  // readBatch reads one record batch's columns: per field, its validity
  // bitmap (null when no value is null) and its values.
  function readBatch(fb, t, body, fields) {
    const n = fb.i64(t, 0), nodes = fb.vec(t, 1), bufs = fb.vec(t, 2);
    if (fb.ref(t, 3)) throw new Error("the Arrow answer is compressed: the console reads plain batches");
    const buf = fb.dv.buffer, base = fb.dv.byteOffset + body;
    let b = 0;
    const next = () => { const p = bufs.at + 16 * b++; return { off: base + fb.long(p), len: fb.long(p + 8) }; };
    return fields.map((f, k) => {
      const nulls = fb.long(nodes.at + 16 * k + 8);
      const vb = next();
      const valid = nulls > 0 && vb.len > 0 ? new Uint8Array(buf, vb.off, vb.len) : null;
      const c = { n, valid };
      if (f.kind === "string") {
        const ob = next(), db = next();
        c.offsets = view(Int32Array, buf, ob.off, n + 1);
        c.bytes = new Uint8Array(buf, db.off, db.len);
      } else if (f.kind === "boolean") {
        c.bits = new Uint8Array(buf, next().off, (n + 7) >> 3);
      } else {
        // 64-bit values, read as pairs of 32-bit halves (little-endian),
        // aligned for a Float64Array over the same bytes.
        const off = next().off;
        c.halves = off % 8 === 0 ? new Int32Array(buf, off, 2 * n) : new Int32Array(buf.slice(off, off + 8 * n));
      }
      return c;
    });
  }

  // Column is one column of the answer over all its batches.
  class Column {
    constructor(field, parts) {
      this.name = field.name;
      this.type = field.kind;
      this.perSecond = field.perSecond || 0;
      this.parts = parts;
      this.length = parts.reduce((s, p) => s + p.n, 0);
      this.texts = null;
    }

    // part finds the batch holding row i: [part, row in it].
    part(i) {
      for (const p of this.parts) { if (i < p.n) return [p, i]; i -= p.n; }
      return [null, 0];
    }

    isNull(i) { const [p, j] = this.part(i); return !p || (p.valid !== null && (p.valid[j >> 3] & (1 << (j & 7))) === 0); }

    // value is row i's value: a number (a bigint for integers beyond
    // 2^53), a string, a boolean, or null; a timestamp is its integer
    // in its unit.
    value(i) {
      if (this.isNull(i)) return null;
      const [p, j] = this.part(i);
      switch (this.type) {
        case "string": return this.text(i);
        case "boolean": return (p.bits[j >> 3] & (1 << (j & 7))) !== 0;
        case "float": return new Float64Array(p.halves.buffer, p.halves.byteOffset + 8 * j, 1)[0];
        default: {
          const lo = p.halves[2 * j] >>> 0, hi = p.halves[2 * j + 1];
          const x = this.type === "unsigned" ? (hi >>> 0) * TWO32 + lo : hi * TWO32 + lo;
          if (Number.isSafeInteger(x)) return x;
          const big = (BigInt(this.type === "unsigned" ? hi >>> 0 : hi) << 32n) | BigInt(lo);
          return big;
        }
      }
    }

    // text is row i's value as the server's JSON writes it (a timestamp
    // in RFC 3339 with up to nine decimals); "" for null.
    text(i) {
      if (this.isNull(i)) return "";
      if (this.type === "string") {
        const [p, j] = this.part(i);
        return utf8.decode(p.bytes.subarray(p.offsets[j], p.offsets[j + 1]));
      }
      if (this.type === "timestamp") return rfc3339(this.value(i), this.perSecond);
      return String(this.value(i));
    }

    // strings are the column's values as strings (null for null), for
    // grouping rows by them: ASCII data is decoded once and cut.
    strings() {
      if (this.texts) return this.texts;
      const out = new Array(this.length);
      let i = 0;
      for (const p of this.parts) {
        let ascii = true;
        for (let k = 0; k < p.bytes.length; k++) if (p.bytes[k] > 127) { ascii = false; break; }
        const all = ascii ? utf8.decode(p.bytes) : "";
        for (let j = 0; j < p.n; j++, i++) {
          if (p.valid !== null && (p.valid[j >> 3] & (1 << (j & 7))) === 0) out[i] = null;
          else out[i] = ascii ? all.substring(p.offsets[j], p.offsets[j + 1]) : utf8.decode(p.bytes.subarray(p.offsets[j], p.offsets[j + 1]));
        }
      }
      this.texts = out;
      return out;
    }

    // numbers are the column's values as float64 (NaN for null), over
    // the answer's bytes for a float column without nulls; a timestamp
    // column's are milliseconds.
    numbers() {
      if (this.type === "float" && this.parts.length === 1 && this.parts[0].valid === null) {
        const h = this.parts[0].halves;
        return new Float64Array(h.buffer, h.byteOffset, this.length);
      }
      const out = new Float64Array(this.length);
      const scale = this.type === "timestamp" ? 1000 / this.perSecond : 1;
      let i = 0;
      for (const p of this.parts) {
        const f = this.type === "float" ? new Float64Array(p.halves.buffer, p.halves.byteOffset, p.n) : null;
        for (let j = 0; j < p.n; j++, i++) {
          if (p.valid !== null && (p.valid[j >> 3] & (1 << (j & 7))) === 0) { out[i] = NaN; continue; }
          if (f) { out[i] = f[j]; continue; }
          if (this.type === "boolean") { out[i] = (p.bits[j >> 3] >> (j & 7)) & 1; continue; }
          if (this.type === "string") { out[i] = NaN; continue; }
          const lo = p.halves[2 * j] >>> 0, hi = p.halves[2 * j + 1];
          out[i] = ((this.type === "unsigned" ? hi >>> 0 : hi) * TWO32 + lo) * scale;
        }
      }
      return out;
    }
  }

  // rfc3339 writes a timestamp (v units, perSecond of them a second) as
  // Go's RFC3339Nano does: UTC, the fraction without trailing zeros.
  function rfc3339(v, perSecond) {
    const per = BigInt(perSecond), x = BigInt(v);
    let s = x / per, f = x % per;
    if (f < 0n) { f += per; s -= 1n; }
    const head = new Date(Number(s) * 1000).toISOString().slice(0, 19);
    if (f === 0n) return head + "Z";
    const digits = String(perSecond).length - 1;
    return head + "." + String(f).padStart(digits, "0").replace(/0+$/, "") + "Z";
  }

  // read takes an ArrayBuffer holding an Arrow IPC stream and answers
  // {columns: [Column], length}.
  function read(buffer) {
    const dv = new DataView(buffer), fb = new FB(dv);
    let pos = 0, fields = null;
    const batches = [];
    while (pos + 4 <= buffer.byteLength) {
      let len = dv.getInt32(pos, true);
      pos += 4;
      if (len === -1) { len = dv.getInt32(pos, true); pos += 4; } // the continuation marker, then the length
      if (len === 0) break; // end of stream
      const meta = pos;
      pos += len;
      const msg = meta + dv.getUint32(meta, true);
      const kind = fb.u8(msg, 1, 0), header = fb.ref(msg, 2), bodyLen = fb.i64(msg, 3);
      if (kind === MSG_SCHEMA) fields = readSchema(fb, header);
      else if (kind === MSG_BATCH) {
        if (!fields) throw new Error("the Arrow answer has a record batch before its schema");
        batches.push(readBatch(fb, header, pos, fields));
      } else throw new Error("the Arrow answer has a message of type " + kind + ", which the console does not read");
      pos += bodyLen;
    }
    if (!fields) throw new Error("the Arrow answer has no schema");
    const columns = fields.map((f, k) => new Column(f, batches.map((b) => b[k])));
    return { columns, length: columns.length ? columns[0].length : 0 };
  }

  window.SiltArrow = { read };
})();
