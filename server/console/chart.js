// Silt console: a small line, area and bar chart on a canvas.
//
// Each series is drawn by pixel column: the points that fall in one column
// of pixels become one vertical stroke from their least to their greatest
// value, joined to the next column by its first and last value. The work
// is one pass over the points plus one stroke per column, so 100k points
// cost about as much as 1k; nothing is lost to the eye (spikes stay).
"use strict";

(function () {
  const PALETTE = ["#2f6fde", "#e2542f", "#1f9d55", "#a341c9", "#d99a00", "#0f9bb0", "#d1306f", "#6b7a00", "#7a5230", "#4d4d4d"];
  const PAD = { left: 58, right: 12, top: 10, bottom: 26 };

  // Time ticks, in ms: the first that gives at most one tick per ~90 px.
  const TIME_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5,
    36e5, 72e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5, 2592e6, 7776e6, 31536e6];

  function pad2(n) { return n < 10 ? "0" + n : "" + n; }

  // formatTime labels a tick: the date when ticks are days apart, the
  // time of day otherwise (UTC, as the server's timestamps).
  function formatTime(ms, step) {
    const d = new Date(ms);
    if (step >= 864e5) return d.getUTCFullYear() + "-" + pad2(d.getUTCMonth() + 1) + "-" + pad2(d.getUTCDate());
    const hm = pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes());
    if (step >= 6e4) return hm;
    if (step >= 1e3) return hm + ":" + pad2(d.getUTCSeconds());
    return hm + ":" + pad2(d.getUTCSeconds()) + "." + String(d.getUTCMilliseconds()).padStart(3, "0");
  }

  function plain(v) {
    if (!isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(Math.round(v * 1000) / 1000);
  }

  // Units of the y axis. A value is scaled to the unit's largest
  // multiple that keeps it at 1 or more: 1536 bytes is "1.5 KiB".
  const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  const UNITS = {
    "": { label: "" },
    percent: { label: "%", fmt: (v) => plain(v) + "%" },
    bytes: { label: "bytes", base: 1024, fmt: (v) => scaled(v, 1024, IEC, "") },
    bps: { label: "bytes/s", base: 1024, fmt: (v) => scaled(v, 1024, IEC, "/s") },
    s: { label: "seconds", fmt: (v) => duration(v) },
    ms: { label: "milliseconds", fmt: (v) => duration(v / 1000) },
    ops: { label: "per second", fmt: (v) => scaled(v, 1000, ["", " k", " M", " G", " T", " P"], "/s") },
  };

  function scaled(v, base, names, suffix) {
    if (!isFinite(v)) return String(v);
    let a = Math.abs(v), i = 0;
    while (a >= base && i < names.length - 1) { a /= base; i++; }
    const r = a >= 100 ? Math.round(a) : a >= 10 ? Math.round(a * 10) / 10 : Math.round(a * 100) / 100;
    const sep = names === IEC ? " " : "";
    return (v < 0 ? "-" : "") + r + sep + names[i] + suffix;
  }

  function duration(sec) {
    if (!isFinite(sec)) return String(sec);
    const a = Math.abs(sec);
    const r = (x) => String(Math.round(x * 100) / 100);
    if (a === 0) return "0 s";
    if (a < 1e-3) return r(sec * 1e6) + " µs";
    if (a < 1) return r(sec * 1e3) + " ms";
    if (a < 60) return r(sec) + " s";
    if (a < 3600) return r(sec / 60) + " min";
    return r(sec / 3600) + " h";
  }

  // formatValue writes v in unit (a key of UNITS; "" is a plain number).
  function formatValue(v, unit) {
    const u = UNITS[unit || ""];
    return u && u.fmt ? u.fmt(v) : plain(v);
  }

  // niceStep is a 1, 2 or 5 times a power of ten near span/count.
  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // unitStep is niceStep in the unit's own multiples (KiB, MiB for bytes),
  // so that ticks fall on round numbers of what their labels say.
  function unitStep(span, count, unit) {
    const u = UNITS[unit || ""];
    if (!u || !u.base) return niceStep(span, count);
    let scale = 1;
    while (span / scale >= u.base && scale < Math.pow(u.base, 5)) scale *= u.base;
    return niceStep(span / scale, count) * scale;
  }

  // MODES are the ways a series is drawn.
  const MODES = ["line", "area", "bar"];

  class Chart {
    // opts: onZoom(fromMs, toMs) after a drag; compact: no legend, fewer ticks.
    constructor(host, opts) {
      this.opts = opts || {};
      this.host = host;
      this.series = [];
      this.log = false;
      this.mode = MODES.includes(this.opts.mode) ? this.opts.mode : "line";
      this.unit = UNITS[this.opts.unit] ? this.opts.unit : "";
      this.info = { series: [], renderMs: 0, xMin: 0, xMax: 0, width: 0, height: 0, mode: this.mode, unit: this.unit, yTicks: [] };
      this.root = document.createElement("div");
      this.root.className = "chart";
      this.canvas = document.createElement("canvas");
      this.canvas.setAttribute("role", "img");
      this.canvas.tabIndex = 0;
      this.sel = document.createElement("div");
      this.sel.className = "chart-sel";
      this.tip = document.createElement("div");
      this.tip.className = "chart-tip";
      this.tip.setAttribute("role", "status");
      this.legend = document.createElement("ul");
      this.legend.className = "chart-legend";
      const plot = document.createElement("div");
      plot.className = "chart-plot";
      plot.append(this.canvas, this.sel, this.tip);
      this.root.append(plot);
      if (!this.opts.compact) this.root.append(this.legend);
      host.append(this.root);
      this.plot = plot;
      this.bindMouse();
      // A new size redraws; the observer's first call, for the size the
      // chart was drawn at, does not.
      this.resizeObserver = new ResizeObserver(() => {
        if (this.plot.clientWidth !== this.info.width || this.plot.clientHeight !== this.info.height) this.draw();
      });
      this.resizeObserver.observe(plot);
    }

    // setData takes series of {name, xs, ys} (xs in ms, ascending; ys
    // numbers, NaN for none) and draws them. A series may say its range
    // of values, yRange {min, max, minPositive} (Infinity, -Infinity
    // when it has none): the chart need not look for it.
    setData(series, log) {
      this.series = series.map((s, i) => Object.assign({ color: PALETTE[i % PALETTE.length], hidden: false }, s));
      if (log !== undefined) this.log = log;
      this.renderLegend();
      this.draw();
    }

    setLog(log) { this.log = log; this.draw(); }

    // setMode draws the series as lines, areas (filled down to zero, or
    // to the axis' bottom on a log scale) or bars.
    setMode(mode) { if (MODES.includes(mode)) { this.mode = mode; this.draw(); } }

    // setUnit labels the y axis and the tooltip in a unit of UNITS.
    setUnit(unit) { if (UNITS[unit || ""]) { this.unit = unit || ""; this.draw(); } }

    renderLegend() {
      this.legend.replaceChildren();
      this.series.forEach((s) => {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.setAttribute("aria-pressed", String(!s.hidden));
        b.title = "show or hide this series";
        const sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.background = s.color;
        const label = document.createElement("span");
        label.textContent = s.name;
        b.append(sw, label);
        b.addEventListener("click", () => {
          s.hidden = !s.hidden;
          b.setAttribute("aria-pressed", String(!s.hidden));
          this.draw();
        });
        li.append(b);
        this.legend.append(li);
      });
    }

    // domain computes the x and y ranges of the visible series.
    domain() {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const s of this.series) {
        if (s.hidden || s.xs.length === 0) continue;
        x0 = Math.min(x0, s.xs[0]);
        x1 = Math.max(x1, s.xs[s.xs.length - 1]);
        if (s.yRange) {
          const r = s.yRange, low = this.log ? r.minPositive : r.min;
          if (low < y0) y0 = low;
          if (r.max > y1 && (!this.log || r.max > 0)) y1 = r.max;
          continue;
        }
        const ys = s.ys;
        for (let i = 0; i < ys.length; i++) {
          const v = ys[i];
          if (v !== v || (this.log && v <= 0)) continue;
          if (v < y0) y0 = v;
          if (v > y1) y1 = v;
        }
      }
      if (!isFinite(x0)) { x0 = 0; x1 = 1; }
      // Bars are centred on their points: half a gap more on each side
      // keeps the first and last whole.
      if (this.mode === "bar") {
        let gap = Infinity;
        for (const s of this.series) {
          if (s.hidden) continue;
          for (let i = 1; i < s.xs.length; i++) { const g = s.xs[i] - s.xs[i - 1]; if (g > 0 && g < gap) gap = g; }
        }
        if (isFinite(gap) && gap < (x1 - x0) / 2) { x0 -= gap / 2; x1 += gap / 2; }
      }
      if (x0 === x1) { x0 -= 500; x1 += 500; }
      if (!isFinite(y0)) { y0 = this.log ? 1 : 0; y1 = this.log ? 10 : 1; }
      // Areas and bars stand on zero: it is in the range.
      if (!this.log && this.mode !== "line") { y0 = Math.min(y0, 0); y1 = Math.max(y1, 0); }
      if (this.log) {
        y0 = Math.log10(y0); y1 = Math.log10(y1);
        if (y0 === y1) { y0 -= 1; y1 += 1; }
      } else {
        if (y0 === y1) { y0 -= 1; y1 += 1; }
        const m = (y1 - y0) * 0.05;
        // No margin below a zero that bars and areas stand on.
        if (!(this.mode !== "line" && y0 === 0)) y0 -= m;
        y1 += m;
      }
      return { x0, x1, y0, y1 };
    }

    draw() {
      const t0 = performance.now();
      const dpr = window.devicePixelRatio || 1;
      // Reading the plot's size lays the page out if it changed.
      const w = this.plot.clientWidth, h = this.plot.clientHeight;
      const tLayout = performance.now();
      if (w === 0 || h === 0) return;
      if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
        this.canvas.width = Math.round(w * dpr);
        this.canvas.height = Math.round(h * dpr);
      }
      const ctx = this.canvas.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const style = getComputedStyle(this.root);
      const fg = style.getPropertyValue("--chart-fg").trim() || "#555";
      const grid = style.getPropertyValue("--chart-grid").trim() || "#ddd";
      const d = this.domain();
      this.dom = d;
      const pw = w - PAD.left - PAD.right, ph = h - PAD.top - PAD.bottom;
      this.area = { left: PAD.left, top: PAD.top, width: pw, height: ph };
      const xs = (x) => PAD.left + (x - d.x0) / (d.x1 - d.x0) * pw;
      const ys = (y) => PAD.top + ph - (y - d.y0) / (d.y1 - d.y0) * ph;

      // Grid and axes.
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillStyle = fg;
      ctx.strokeStyle = grid;
      ctx.lineWidth = 1;
      ctx.beginPath();
      // On a log scale the ticks are whole powers of ten, fewer when
      // the range spans many.
      const ty = this.log ? Math.max(1, Math.ceil((d.y1 - d.y0) / Math.max(2, ph / 40))) : unitStep(d.y1 - d.y0, Math.max(2, ph / 40), this.unit);
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      const yTicks = [];
      for (let k = Math.ceil(d.y0 / ty); k * ty <= d.y1; k++) {
        const y = k * ty; // a multiple, not a running sum: no drift in the labels
        const py = Math.round(ys(y)) + 0.5;
        ctx.moveTo(PAD.left, py);
        ctx.lineTo(PAD.left + pw, py);
        const label = formatValue(this.log ? Math.pow(10, y) : y, this.unit);
        yTicks.push(label);
        ctx.fillText(label, PAD.left - 4, py);
      }
      const span = d.x1 - d.x0;
      const maxTicks = Math.max(2, pw / (this.opts.compact ? 120 : 90));
      let step = TIME_STEPS[TIME_STEPS.length - 1];
      for (const s of TIME_STEPS) { if (span / s <= maxTicks) { step = s; break; } }
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      for (let x = Math.ceil(d.x0 / step) * step; x <= d.x1; x += step) {
        const px = Math.round(xs(x)) + 0.5;
        ctx.moveTo(px, PAD.top);
        ctx.lineTo(px, PAD.top + ph);
        ctx.fillText(formatTime(x, step), px, PAD.top + ph + 6);
      }
      ctx.stroke();

      // Series, by pixel column.
      ctx.save();
      ctx.beginPath();
      ctx.rect(PAD.left, PAD.top, pw, ph);
      ctx.clip();
      ctx.lineWidth = 1.5;
      ctx.lineJoin = "round";
      const info = [];
      const kx = pw / (d.x1 - d.x0), ky = ph / (d.y1 - d.y0);
      const log = this.log, mode = this.mode;
      // The baseline bars and areas stand on: zero, or the bottom on a
      // log scale (where zero is not).
      const base = log ? d.y0 : Math.min(Math.max(0, d.y0), d.y1);
      const baseY = PAD.top + ph - (base - d.y0) * ky;
      const visible = this.series.filter((s) => !s.hidden);
      const bar = mode === "bar" ? this.barLayout(visible, kx, pw) : null;
      for (const s of this.series) {
        let drawn = 0, bars = 0;
        if (!s.hidden) {
          if (bar) {
            [drawn, bars] = this.drawBars(ctx, s, bar, visible.indexOf(s), d, kx, ky, ph, baseY);
          } else {
            drawn = this.drawLine(ctx, s, d, kx, ky, ph, mode === "area" ? baseY : NaN);
          }
        }
        info.push({ name: s.name, points: s.xs.length, drawn: drawn, bars: bars, color: s.color, hidden: s.hidden });
      }
      ctx.restore();
      const t1 = performance.now();
      this.info = { series: info, renderMs: t1 - t0, layoutMs: tLayout - t0, canvasMs: t1 - tLayout, xMin: d.x0, xMax: d.x1, log: this.log,
        area: this.area, width: w, height: h, mode: this.mode, unit: this.unit, yTicks: yTicks };
      this.canvas.setAttribute("aria-label", this.mode + " chart of " + info.length + " series" +
        (this.unit ? " in " + UNITS[this.unit].label : "") + " from " +
        new Date(d.x0).toISOString() + " to " + new Date(d.x1).toISOString());
    }

    // drawLine strokes a series by pixel column, and with a baseline
    // (area mode) fills between it and the column's value farthest from
    // it, half transparent so that series behind stay visible. It
    // returns the points drawn.
    drawLine(ctx, s, d, kx, ky, ph, baseY) {
      const area = !isNaN(baseY);
      const top = PAD.top + ph;
      const X = s.xs, Y = s.ys, n = X.length, log = this.log;
      const fill = area ? new Path2D() : null;
      let fillOpen = false, fillX = 0;
      // With two points or more a column on average, each column is a
      // rectangle from its least to its greatest value (reaching to the
      // column before's last value, which joins them), all filled at
      // once: the same pixels as a stroke up and down each column, for
      // a small part of the rasterizing (a stroke that turns back on
      // itself at every column is the costliest path there is).
      const dense = n >= 2 * (this.area ? this.area.width : 1);
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      let col = NaN, lo = 0, hi = 0, last = 0, pen = false, drawn = 0, prev = NaN;
      const flush = () => {
        const px = PAD.left + col + 0.5;
        if (dense) {
          let a = lo, b = hi;
          if (prev === prev) { if (prev < a) a = prev; if (prev > b) b = prev; }
          const y1 = top - (b - d.y0) * ky, y2 = top - (a - d.y0) * ky;
          ctx.rect(px - 0.75, y1 - 0.75, 1.5, y2 - y1 + 1.5);
          prev = last;
        } else {
          if (hi !== lo) { ctx.lineTo(px, top - (lo - d.y0) * ky); ctx.lineTo(px, top - (hi - d.y0) * ky); }
          ctx.lineTo(px, top - (last - d.y0) * ky);
        }
        if (area) {
          const far = Math.abs(top - (hi - d.y0) * ky - baseY) >= Math.abs(top - (lo - d.y0) * ky - baseY) ? hi : lo;
          if (!fillOpen) { fill.moveTo(px, baseY); fillOpen = true; }
          fill.lineTo(px, top - (far - d.y0) * ky);
          fillX = px;
        }
      };
      const closeFill = () => {
        if (fillOpen) { fill.lineTo(fillX, baseY); fill.closePath(); fillOpen = false; }
      };
      for (let i = 0; i < n; i++) {
        let v = Y[i];
        if (v !== v || (log && v <= 0)) { if (!isNaN(col)) flush(); closeFill(); col = NaN; pen = false; prev = NaN; continue; }
        if (log) v = Math.log10(v);
        const c = Math.floor((X[i] - d.x0) * kx);
        if (c !== col) {
          if (!isNaN(col)) flush();
          if (!dense) {
            const py = top - (v - d.y0) * ky;
            if (!pen) { ctx.moveTo(PAD.left + c + 0.5, py); pen = true; } else ctx.lineTo(PAD.left + c + 0.5, py);
          }
          col = c; lo = hi = v;
        } else {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        last = v;
        drawn++;
      }
      if (!isNaN(col)) flush();
      closeFill();
      if (area) {
        ctx.save();
        ctx.globalAlpha = 0.3;
        ctx.fillStyle = s.color;
        ctx.fill(fill);
        ctx.restore();
      }
      if (dense) ctx.fill();
      else ctx.stroke();
      return drawn;
    }

    // barLayout sizes the bars: one per point, side by side per series
    // in the smallest gap between two points, when the points are at
    // least 3 px apart; else one bar per pixel column (too many points
    // for bars of their own).
    barLayout(visible, kx, pw) {
      let gap = Infinity, most = 0;
      for (const s of visible) {
        const X = s.xs;
        most = Math.max(most, X.length);
        for (let i = 1; i < X.length; i++) { const g = X[i] - X[i - 1]; if (g > 0 && g < gap) gap = g; }
      }
      const gapPx = isFinite(gap) ? gap * kx : pw / Math.max(1, most);
      if (gapPx < 3) return { perColumn: true, width: 1, slots: 1 };
      const slots = Math.max(1, visible.length);
      const width = Math.max(1, Math.floor(gapPx * 0.8 / slots));
      return { perColumn: false, width, slots, span: width * slots };
    }

    // drawBars draws a series' bars (the slot'th of the visible ones)
    // and returns [points drawn, bars drawn].
    drawBars(ctx, s, lay, slot, d, kx, ky, ph, baseY) {
      const top = PAD.top + ph;
      const X = s.xs, Y = s.ys, n = X.length, log = this.log;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      let drawn = 0, bars = 0;
      const rect = (x, v) => {
        const py = top - (v - d.y0) * ky;
        ctx.rect(x, Math.min(py, baseY), lay.width, Math.max(1, Math.abs(baseY - py)));
        bars++;
      };
      if (lay.perColumn) {
        let col = NaN, far = 0;
        for (let i = 0; i < n; i++) {
          let v = Y[i];
          if (v !== v || (log && v <= 0)) continue;
          if (log) v = Math.log10(v);
          const c = Math.floor((X[i] - d.x0) * kx);
          if (c !== col) {
            if (!isNaN(col)) rect(PAD.left + col, far);
            col = c; far = v;
          } else if (Math.abs(v - (log ? d.y0 : 0)) > Math.abs(far - (log ? d.y0 : 0))) far = v;
          drawn++;
        }
        if (!isNaN(col)) rect(PAD.left + col, far);
      } else {
        const off = -lay.span / 2 + slot * lay.width;
        for (let i = 0; i < n; i++) {
          let v = Y[i];
          if (v !== v || (log && v <= 0)) continue;
          if (log) v = Math.log10(v);
          rect(Math.round(PAD.left + (X[i] - d.x0) * kx + off), v);
          drawn++;
        }
      }
      ctx.fill();
      return [drawn, bars];
    }

    // pxToTime turns a canvas x (CSS px) into ms.
    pxToTime(px) {
      const d = this.dom, a = this.area;
      return d.x0 + (Math.min(Math.max(px, a.left), a.left + a.width) - a.left) / a.width * (d.x1 - d.x0);
    }

    bindMouse() {
      let start = null;
      const local = (e) => {
        const r = this.canvas.getBoundingClientRect();
        return { x: e.clientX - r.left, y: e.clientY - r.top };
      };
      this.canvas.addEventListener("mousedown", (e) => {
        if (e.button !== 0 || !this.dom) return;
        start = local(e).x;
        this.sel.style.display = "none";
      });
      window.addEventListener("mousemove", (e) => {
        if (start === null) return;
        const x = local(e).x, a = this.area;
        const l = Math.max(a.left, Math.min(start, x)), r = Math.min(a.left + a.width, Math.max(start, x));
        Object.assign(this.sel.style, { display: "block", left: l + "px", width: (r - l) + "px", top: a.top + "px", height: a.height + "px" });
      });
      window.addEventListener("mouseup", (e) => {
        if (start === null) return;
        const end = local(e).x;
        const s = start;
        start = null;
        this.sel.style.display = "none";
        if (Math.abs(end - s) < 4) return;
        const from = Math.round(this.pxToTime(Math.min(s, end))), to = Math.round(this.pxToTime(Math.max(s, end)));
        if (this.opts.onZoom) this.opts.onZoom(from, to);
      });
      this.canvas.addEventListener("mousemove", (e) => this.showTip(local(e)));
      this.canvas.addEventListener("mouseleave", () => { this.tip.style.display = "none"; });
    }

    // showTip lists, for the time under the pointer, each series' nearest
    // point (as text).
    showTip(p) {
      if (!this.dom || this.series.length === 0) return;
      const a = this.area;
      if (p.x < a.left || p.x > a.left + a.width) { this.tip.style.display = "none"; return; }
      const t = this.pxToTime(p.x);
      const rows = [];
      let when = null;
      for (const s of this.series) {
        if (s.hidden || s.xs.length === 0) continue;
        let lo = 0, hi = s.xs.length - 1;
        while (lo < hi) { const m = (lo + hi) >> 1; if (s.xs[m] < t) lo = m + 1; else hi = m; }
        if (lo > 0 && Math.abs(s.xs[lo - 1] - t) < Math.abs(s.xs[lo] - t)) lo--;
        if (when === null) when = s.xs[lo];
        rows.push([s.color, s.name, s.ys[lo]]);
        if (rows.length >= 12) break;
      }
      this.tip.replaceChildren();
      const head = document.createElement("div");
      head.className = "chart-tip-time";
      head.textContent = new Date(when).toISOString();
      this.tip.append(head);
      for (const [color, name, v] of rows) {
        const row = document.createElement("div");
        const sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.background = color;
        const txt = document.createElement("span");
        txt.textContent = name + ": " + formatValue(v, this.unit);
        row.append(sw, txt);
        this.tip.append(row);
      }
      this.tip.style.display = "block";
      const left = p.x + 14 + this.tip.offsetWidth > a.left + a.width ? p.x - 14 - this.tip.offsetWidth : p.x + 14;
      this.tip.style.left = Math.max(0, left) + "px";
      this.tip.style.top = Math.max(0, p.y - 10) + "px";
    }
  }

  Chart.UNITS = Object.keys(UNITS);
  Chart.MODES = MODES;
  Chart.formatValue = formatValue;
  window.SiltChart = Chart;
})();
