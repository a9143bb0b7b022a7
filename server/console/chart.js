// Silt console: a small line chart on a canvas.
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

  function formatValue(v) {
    if (!isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(Math.round(v * 1000) / 1000);
  }

  // niceStep is a 1, 2 or 5 times a power of ten near span/count.
  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  class Chart {
    // opts: onZoom(fromMs, toMs) after a drag; compact: no legend, fewer ticks.
    constructor(host, opts) {
      this.opts = opts || {};
      this.host = host;
      this.series = [];
      this.log = false;
      this.info = { series: [], renderMs: 0, xMin: 0, xMax: 0, width: 0, height: 0 };
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
      this.resizeObserver = new ResizeObserver(() => this.draw());
      this.resizeObserver.observe(plot);
    }

    // setData takes series of {name, xs, ys} (xs in ms, ascending; ys
    // numbers, NaN for none) and draws them.
    setData(series, log) {
      this.series = series.map((s, i) => Object.assign({ color: PALETTE[i % PALETTE.length], hidden: false }, s));
      if (log !== undefined) this.log = log;
      this.renderLegend();
      this.draw();
    }

    setLog(log) { this.log = log; this.draw(); }

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
        const ys = s.ys;
        for (let i = 0; i < ys.length; i++) {
          const v = ys[i];
          if (v !== v || (this.log && v <= 0)) continue;
          if (v < y0) y0 = v;
          if (v > y1) y1 = v;
        }
      }
      if (!isFinite(x0)) { x0 = 0; x1 = 1; }
      if (x0 === x1) { x0 -= 500; x1 += 500; }
      if (!isFinite(y0)) { y0 = this.log ? 1 : 0; y1 = this.log ? 10 : 1; }
      if (this.log) {
        y0 = Math.log10(y0); y1 = Math.log10(y1);
        if (y0 === y1) { y0 -= 1; y1 += 1; }
      } else {
        if (y0 === y1) { y0 -= 1; y1 += 1; }
        const m = (y1 - y0) * 0.05;
        y0 -= m; y1 += m;
      }
      return { x0, x1, y0, y1 };
    }

    draw() {
      const t0 = performance.now();
      const dpr = window.devicePixelRatio || 1;
      const w = this.plot.clientWidth, h = this.plot.clientHeight;
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
      const ty = this.log ? Math.max(1, Math.ceil((d.y1 - d.y0) / Math.max(2, ph / 40))) : niceStep(d.y1 - d.y0, Math.max(2, ph / 40));
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      for (let y = Math.ceil(d.y0 / ty) * ty; y <= d.y1; y += ty) {
        const py = Math.round(ys(y)) + 0.5;
        ctx.moveTo(PAD.left, py);
        ctx.lineTo(PAD.left + pw, py);
        ctx.fillText(formatValue(this.log ? Math.pow(10, y) : y), PAD.left - 4, py);
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

      // Series, one stroke per pixel column.
      ctx.save();
      ctx.beginPath();
      ctx.rect(PAD.left, PAD.top, pw, ph);
      ctx.clip();
      ctx.lineWidth = 1.5;
      ctx.lineJoin = "round";
      const info = [];
      const kx = pw / (d.x1 - d.x0), ky = ph / (d.y1 - d.y0);
      const log = this.log;
      for (const s of this.series) {
        let drawn = 0;
        if (!s.hidden) {
          ctx.strokeStyle = s.color;
          ctx.beginPath();
          const X = s.xs, Y = s.ys, n = X.length;
          let col = NaN, lo = 0, hi = 0, last = 0, pen = false;
          const flush = () => {
            const px = PAD.left + col + 0.5;
            if (hi !== lo) { ctx.lineTo(px, PAD.top + ph - (lo - d.y0) * ky); ctx.lineTo(px, PAD.top + ph - (hi - d.y0) * ky); }
            ctx.lineTo(px, PAD.top + ph - (last - d.y0) * ky);
          };
          for (let i = 0; i < n; i++) {
            let v = Y[i];
            if (v !== v || (log && v <= 0)) { if (!isNaN(col)) flush(); col = NaN; pen = false; continue; }
            if (log) v = Math.log10(v);
            const c = Math.floor((X[i] - d.x0) * kx);
            if (c !== col) {
              if (!isNaN(col)) flush();
              const py = PAD.top + ph - (v - d.y0) * ky;
              if (!pen) { ctx.moveTo(PAD.left + c + 0.5, py); pen = true; } else ctx.lineTo(PAD.left + c + 0.5, py);
              col = c; lo = hi = v;
            } else {
              if (v < lo) lo = v;
              if (v > hi) hi = v;
            }
            last = v;
            drawn++;
          }
          if (!isNaN(col)) flush();
          ctx.stroke();
        }
        info.push({ name: s.name, points: s.xs.length, drawn: drawn, color: s.color, hidden: s.hidden });
      }
      ctx.restore();
      this.info = { series: info, renderMs: performance.now() - t0, xMin: d.x0, xMax: d.x1, log: this.log,
        area: this.area, width: w, height: h };
      this.canvas.setAttribute("aria-label", "line chart of " + info.length + " series from " +
        new Date(d.x0).toISOString() + " to " + new Date(d.x1).toISOString());
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
        txt.textContent = name + ": " + formatValue(v);
        row.append(sw, txt);
        this.tip.append(row);
      }
      this.tip.style.display = "block";
      const left = p.x + 14 + this.tip.offsetWidth > a.left + a.width ? p.x - 14 - this.tip.offsetWidth : p.x + 14;
      this.tip.style.left = Math.max(0, left) + "px";
      this.tip.style.top = Math.max(0, p.y - 10) + "px";
    }
  }

  window.SiltChart = Chart;
})();
