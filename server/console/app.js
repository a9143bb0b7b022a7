// Silt console: query, chart, explore, status and write, over Silt's own
// HTTP API. Everything that comes from the server is put in the page as
// text (textContent, option.text), never as markup.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // el builds an element; children are nodes or strings (as text).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (k === "text") e.textContent = v;
        else if (k === "class") e.className = v;
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v);
      }
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  // ---- storage, theme ----

  const TOKEN_KEY = "silt.token", HISTORY_KEY = "silt.history", THEME_KEY = "silt.theme";
  const CHART_MODE_KEY = "silt.chart.mode", CHART_UNIT_KEY = "silt.chart.unit";
  function store(kind) { try { return window[kind]; } catch (e) { return null; } }
  const session = store("sessionStorage"), local = store("localStorage");
  function getItem(s, k) { try { return s ? s.getItem(k) : null; } catch (e) { return null; } }
  function setItem(s, k, v) { try { if (s) { if (v === null) s.removeItem(k); else s.setItem(k, v); } } catch (e) { /* private mode: not kept */ } }

  function applyTheme(t) {
    document.documentElement.dataset.theme = t;
    if (state.chart) state.chart.draw();
    for (const c of Object.values(state.statusCharts)) c.chart.draw();
  }
  function initialTheme() {
    const t = getItem(local, THEME_KEY);
    if (t === "light" || t === "dark") return t;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  const state = {
    token: getItem(session, TOKEN_KEY),
    authOn: false,
    dbs: [],
    view: "query",
    chart: null,
    chartData: null,     // the series last drawn in the query chart
    result: null,        // {columns, rows, stats}
    page: 0,
    running: false,
    refreshTimer: 0,
    lastSent: "",
    metricsTimer: 0,
    statusCharts: {},
    lastMetrics: null,
  };

  // ---- API ----

  class APIError extends Error {
    constructor(status, body, text) {
      super((body && body.error) || text || ("HTTP " + status));
      this.status = status;
      this.body = body;
    }
  }

  // api fetches path with the token; a 401 shows the login.
  async function api(path, opts) {
    opts = Object.assign({ method: "GET", headers: {} }, opts || {});
    // Asks the server for a Bearer challenge: a Basic one makes the
    // browser open its own password dialog.
    opts.headers["X-Requested-With"] = "XMLHttpRequest";
    if (state.token) opts.headers.Authorization = "Bearer " + state.token;
    const resp = await fetch(path, opts);
    if (resp.status === 401) {
      showLogin(state.token ? "The token was refused; log in again." : "");
      throw new APIError(401, null, "authentication required");
    }
    return resp;
  }

  // apiJSON fetches path and parses its JSON answer; marks, when given,
  // gets the times (performance.now()) the headers and the body arrived
  // and the body was parsed.
  async function apiJSON(path, opts, marks) {
    const resp = await api(path, opts);
    if (marks) marks.headers = performance.now();
    const text = await resp.text();
    if (marks) marks.body = performance.now();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
    if (marks) marks.parsed = performance.now();
    if (!resp.ok) throw new APIError(resp.status, body, text);
    return body;
  }

  function influx(db, q, marks) {
    const form = new URLSearchParams({ q: q, epoch: "ms" });
    if (db) form.set("db", db);
    return apiJSON("/query", { method: "POST", body: form }, marks);
  }

  // ---- login ----

  function showLogin(msg) {
    state.authOn = true;
    $("login").hidden = false;
    for (const v of document.querySelectorAll(".view")) v.hidden = true;
    document.querySelector("nav").hidden = true;
    $("logout").hidden = true;
    $("login-error").textContent = msg || "";
    $("login-token").focus();
  }

  function hideLogin() {
    $("login").hidden = true;
    document.querySelector("nav").hidden = false;
    $("logout").hidden = !state.token;
    showView(state.view);
  }

  async function login(ev) {
    ev.preventDefault();
    const tok = $("login-token").value.trim();
    if (!tok) return;
    state.token = tok;
    try {
      const r = await fetch("/api/v1/databases", { headers: { Authorization: "Bearer " + tok, "X-Requested-With": "XMLHttpRequest" } });
      if (r.status === 401) {
        state.token = null;
        $("login-error").textContent = "That token was refused.";
        return;
      }
      setItem(session, TOKEN_KEY, tok);
      $("login-token").value = "";
      hideLogin();
      await loadDatabases();
    } catch (e) {
      $("login-error").textContent = "Could not reach the server: " + e.message;
    }
  }

  function logout() {
    state.token = null;
    setItem(session, TOKEN_KEY, null);
    stopTimers();
    showLogin("");
  }

  // ---- views ----

  const VIEWS = ["query", "explore", "status", "write"];

  function showView(name) {
    if (!VIEWS.includes(name)) name = "query";
    state.view = name;
    for (const v of VIEWS) {
      $("view-" + v).hidden = v !== name;
      const tab = $("tab-" + v);
      tab.setAttribute("aria-selected", String(v === name));
      tab.tabIndex = v === name ? 0 : -1;
    }
    if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
    if (name === "status") startStatus(); else stopStatus();
    if (name === "explore") renderDbList();
    if (name === "query" && state.chart) state.chart.draw();
  }

  function stopTimers() {
    stopStatus();
    clearInterval(state.refreshTimer);
    state.refreshTimer = 0;
  }

  async function loadDatabases() {
    const body = await apiJSON("/api/v1/databases");
    state.dbs = (body && body.databases) || [];
    const sel = $("q-db"), prev = sel.value || getItem(local, "silt.db");
    sel.replaceChildren(...state.dbs.map((d) => new Option(d, d)));
    if (prev && state.dbs.includes(prev)) sel.value = prev;
    $("w-dbs").replaceChildren(...state.dbs.map((d) => new Option(d, d)));
    if (!$("w-db").value && state.dbs.length) $("w-db").value = sel.value;
    if (state.view === "explore") renderDbList();
  }

  // ---- editor: highlighting ----

  const KEYWORDS = new Set(("select from where group by order limit offset and or not as asc desc having with on in is null " +
    "true false between like distinct case when then else end show databases measurements tag keys values field key " +
    "fill time create drop database measurement retention policy policies delete into interval timestamp date_bin " +
    "explain analyze join union all tz slimit soffset series now count mean sum min max first last").split(" "));

  // highlight fills the editor's backdrop with the text as colored spans;
  // errAt (0-based, UTF-16) underlines the word there.
  function highlight(errAt) {
    const text = $("q-text").value;
    const pre = $("q-highlight");
    const out = [];
    const re = /(--[^\n]*|\/\*[\s\S]*?\*\/)|('(?:[^'\\]|''|\\.)*'?)|("(?:[^"\\]|""|\\.)*"?)|(\b\d+(?:\.\d+)?(?:[a-zµ]+)?\b)|([A-Za-z_][A-Za-z_0-9]*)/g;
    let last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
      let cls = "";
      if (m[1]) cls = "hl-com";
      else if (m[2]) cls = "hl-str";
      else if (m[4]) cls = "hl-num";
      else if (m[5] && KEYWORDS.has(m[5].toLowerCase())) cls = "hl-kw";
      out.push(cls ? el("span", { class: cls, text: m[0] }) : document.createTextNode(m[0]));
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push(document.createTextNode(text.slice(last)));
    out.push(document.createTextNode("\n"));
    pre.replaceChildren(...out);
    if (errAt !== undefined && errAt >= 0) markError(pre, errAt);
    pre.scrollTop = $("q-text").scrollTop;
  }

  // markError wraps the character at pos (and the word it starts) in the
  // highlighted copy of the query.
  function markError(pre, pos) {
    let seen = 0;
    const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const len = node.data.length;
      if (pos < seen + len) {
        const off = pos - seen;
        const rest = node.data.slice(off);
        const word = (rest.match(/^[A-Za-z_0-9]+|^./) || [" "])[0];
        const after = node.splitText(off);
        after.splitText(word.length);
        const mark = el("span", { class: "hl-err", text: word });
        after.replaceWith(mark);
        return;
      }
      seen += len;
    }
  }

  // ---- time range and macros ----

  const DUR = { s: 1e3, m: 6e4, h: 36e5, d: 864e5 };
  function parseDur(s) { const m = /^(\d+)([smhd])$/.exec(s); return m ? Number(m[1]) * DUR[m[2]] : 0; }

  function parseTime(s) {
    s = s.trim();
    if (/^\d+$/.test(s)) return Number(s);
    const t = Date.parse(s);
    return isNaN(t) ? NaN : t;
  }

  // range is the chosen time range, [from, to) in ms.
  function range() {
    const v = $("q-range").value;
    if (v === "abs") {
      const from = parseTime($("q-from").value), to = parseTime($("q-to").value);
      if (isNaN(from) || isNaN(to) || to <= from) throw new Error("the absolute range needs From < To (RFC 3339 times or epoch ms)");
      return [from, to];
    }
    const now = Date.now();
    return [now - parseDur(v), now];
  }

  function setAbsoluteRange(from, to) {
    $("q-range").value = "abs";
    $("q-abs").hidden = false;
    $("q-from").value = new Date(from).toISOString();
    $("q-to").value = new Date(to).toISOString();
  }

  // interval is a bucket of about 1/600 of the range, rounded to seconds.
  function intervalSeconds(from, to) { return Math.max(1, Math.round((to - from) / 600 / 1000)); }

  // expand replaces $timeFilter and $interval in the query as its
  // language writes them.
  function expand(text, lang) {
    if (!/\$timeFilter|\$interval/.test(text)) return text;
    const [from, to] = range();
    const a = new Date(from).toISOString(), b = new Date(to).toISOString();
    const secs = intervalSeconds(from, to);
    const filter = lang === "sql"
      ? "time >= TIMESTAMP '" + a + "' AND time < TIMESTAMP '" + b + "'"
      : "time >= '" + a + "' AND time < '" + b + "'";
    const iv = lang === "sql" ? secs + " seconds" : secs + "s";
    return text.replace(/\$timeFilter/g, filter).replace(/\$interval/g, iv);
  }

  // ---- history ----

  function loadHistory() {
    try { return JSON.parse(getItem(local, HISTORY_KEY) || "[]"); } catch (e) { return []; }
  }
  function pushHistory(entry) {
    const h = loadHistory().filter((e) => !(e.q === entry.q && e.lang === entry.lang && e.db === entry.db));
    h.unshift(entry);
    setItem(local, HISTORY_KEY, JSON.stringify(h.slice(0, 50)));
    renderHistory();
  }
  function renderHistory() {
    const sel = $("q-history");
    const opts = [new Option("—", "")];
    loadHistory().forEach((e, i) => {
      const label = "[" + (e.lang === "sql" ? "SQL" : "InfluxQL") + "] " + e.q.replace(/\s+/g, " ").slice(0, 80);
      opts.push(new Option(label, String(i)));
    });
    sel.replaceChildren(...opts);
  }

  // ---- running a query ----

  function isTimeString(v) { return typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v); }

  // An answer is a table of columns: {columns (names), cols, length,
  // stats, timeCol}. A column (arrow.js's Column, or RowsColumn over a
  // JSON answer's rows) has a type ("timestamp", "float", "integer",
  // "unsigned", "boolean", "string", or "" when the JSON does not say),
  // and gives a row's value, its text, and the whole column as strings
  // or as float64 numbers (times in ms), without an object per row.

  // RowsColumn is column c of a JSON answer's rows.
  class RowsColumn {
    constructor(name, type, rows, c, epochMs) {
      this.name = name;
      this.type = type;
      this.rows = rows;
      this.c = c;
      this.epochMs = epochMs; // times are epoch ms (InfluxQL), not RFC 3339 text
      this.length = rows.length;
    }
    value(i) { const v = this.rows[i][this.c]; return v === undefined ? null : v; }
    text(i) { return cellText(this.value(i), this.type === "timestamp", this.epochMs); }
    strings() {
      const out = new Array(this.length);
      for (let i = 0; i < this.length; i++) { const v = this.rows[i][this.c]; out[i] = v === null || v === undefined ? null : String(v); }
      return out;
    }
    numbers() {
      const out = new Float64Array(this.length), time = this.type === "timestamp";
      for (let i = 0; i < this.length; i++) {
        const v = this.rows[i][this.c];
        out[i] = typeof v === "number" ? v : time ? parseRFC3339(v) : NaN;
      }
      return out;
    }
  }

  // kindOf says how a column charts: "num" (a series), "str" (a label
  // naming series apart) or "" (neither): by its type, or for a JSON
  // column without one, by its first value.
  function kindOf(col) {
    switch (col.type) {
      case "float": case "integer": case "unsigned": return "num";
      case "string": return "str";
      case "": break;
      default: return "";
    }
    for (let i = 0; i < col.length; i++) {
      const v = col.value(i);
      if (v === null) continue;
      return typeof v === "number" ? "num" : (typeof v === "string" && !isTimeString(v)) ? "str" : "";
    }
    return "";
  }

  // fromInflux flattens /query's series into one table: name and tags
  // first, then the series' columns.
  function fromInflux(body) {
    const results = (body && body.results) || [];
    for (const r of results) {
      if (r.error) throw new APIError(200, { error: r.error }, r.error);
    }
    const series = [];
    for (const r of results) for (const s of (r.series || [])) series.push(s);
    if (series.length === 0) return { columns: [], cols: [], length: 0, stats: null, timeCol: -1 };
    const tagKeys = [];
    for (const s of series) for (const k of Object.keys(s.tags || {})) if (!tagKeys.includes(k)) tagKeys.push(k);
    const cols = series[0].columns || [];
    const columns = ["name", ...tagKeys, ...cols];
    const rows = [];
    for (const s of series) {
      const prefix = [s.name === undefined ? "" : s.name, ...tagKeys.map((k) => (s.tags && k in s.tags) ? s.tags[k] : "")];
      for (const v of (s.values || [])) rows.push(prefix.concat(v));
    }
    const ti = cols.indexOf("time");
    const timeCol = ti < 0 ? -1 : ti + 1 + tagKeys.length;
    // The name and tags name series apart, whatever their values.
    const out = columns.map((c, i) => new RowsColumn(c, i === timeCol ? "timestamp" : i <= tagKeys.length ? "string" : "", rows, i, true));
    return { columns, cols: out, length: rows.length, stats: null, timeCol };
  }

  // timeColumn is the chart's time axis: the first timestamp column,
  // else one named time, else (JSON) one whose first value reads as a
  // time.
  function timeColumn(cols) {
    let t = cols.findIndex((c) => c.type === "timestamp");
    if (t < 0) t = cols.findIndex((c) => c.name === "time");
    if (t < 0 && cols.length && cols[0].length) t = cols.findIndex((c) => c.type === "" && isTimeString(c.value(0)));
    return t;
  }

  // fromSQLArrow reads /api/v1/sql?format=arrow's answer (arrow.js), its
  // stats from the Silt-Query-Stats header.
  function fromSQLArrow(buf, statsHeader) {
    const t = window.SiltArrow.read(buf);
    let stats = null;
    try { stats = statsHeader ? JSON.parse(statsHeader) : null; } catch (e) { /* not shown */ }
    return { columns: t.columns.map((c) => c.name), cols: t.columns, length: t.length, stats, timeCol: timeColumn(t.columns) };
  }

  // sqlAnswer runs a SQL query and reads its answer as Arrow: its
  // numbers and times come as typed arrays over the answer's bytes,
  // not as a JSON value per cell (see marks at apiJSON).
  async function sqlAnswer(db, sql, marks) {
    const resp = await api("/api/v1/sql?format=arrow", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ db, sql }) });
    if (marks) marks.headers = performance.now();
    if (!resp.ok) {
      const text = await resp.text();
      let body = null;
      try { body = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
      throw new APIError(resp.status, body, text);
    }
    const buf = await resp.arrayBuffer();
    if (marks) marks.body = performance.now();
    const res = fromSQLArrow(buf, resp.headers.get("Silt-Query-Stats"));
    if (marks) marks.parsed = performance.now();
    return res;
  }

  // parseRFC3339 reads the server's UTC timestamps (2026-01-02T03:04:05.678Z)
  // in ms, by their digits: Date.parse costs more than the rest of a
  // 100k-point chart. Other forms go to Date.parse.
  function parseRFC3339(v) {
    if (typeof v !== "string" || v.length < 20 || v.charCodeAt(v.length - 1) !== 90 /* Z */ || v[10] !== "T") return Date.parse(v);
    const d = (i) => v.charCodeAt(i) - 48;
    let ms = 0;
    if (v.length > 20 && v[19] === ".") {
      let scale = 100;
      for (let i = 20; i < v.length - 1 && scale >= 1; i++, scale /= 10) ms += d(i) * scale;
    }
    return Date.UTC(d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3), d(5) * 10 + d(6) - 1, d(8) * 10 + d(9),
      d(11) * 10 + d(12), d(14) * 10 + d(15), d(17) * 10 + d(18), ms);
  }

  // seriesOf turns a table with a time column into chart series: one per
  // numeric column and combination of the string columns' values. Each
  // column is read once as a whole (strings or float64s); a series of
  // an answer in time order with no labels is the columns themselves.
  function seriesOf(res) {
    const t = res.timeCol;
    if (!res || t < 0 || res.length === 0) return [];
    const numeric = [], labels = [];
    res.cols.forEach((c, i) => {
      if (i === t) return;
      const kind = kindOf(c);
      if (kind === "num") numeric.push(i);
      else if (kind === "str") labels.push(i);
    });
    if (numeric.length === 0) return [];
    const n = res.length;
    // A label that is the same on every row (the measurement of a
    // one-measurement answer) names no series apart.
    const labelVals = [];
    for (const i of labels) {
      const v = res.cols[i].strings();
      let same = true;
      for (let r = 1; r < n && same; r++) same = v[r] === v[0];
      if (!same) labelVals.push([res.columns[i], v]);
    }
    const tc = res.cols[t];
    const xsAll = tc.type === "string" ? Float64Array.from(tc.strings(), parseRFC3339) : tc.numbers();
    const ysAll = numeric.map((i) => res.cols[i].numbers());
    // Rows of each series (null: every row), in order of first row.
    const groups = new Map();
    if (labelVals.length === 0) {
      groups.set("", null);
    } else {
      for (let r = 0; r < n; r++) {
        let key = "";
        for (const [name, v] of labelVals) { const x = v[r]; if (x !== "" && x !== null) key += (key ? "," : "") + name + "=" + x; }
        let g = groups.get(key);
        if (!g) { g = []; groups.set(key, g); }
        g.push(r);
      }
    }
    const out = [];
    const nc = numeric.length;
    for (const [key, rows] of groups) {
      // The rows with a time, by time: the rows themselves when they
      // are in order (no copy when they are all of them). The same pass
      // finds each series' range of values, which the chart would
      // otherwise look for in one more pass over the points.
      let idx = rows;
      let sorted = true, gaps = false;
      const m = idx ? idx.length : n;
      let prev = -Infinity;
      const lo = new Float64Array(nc).fill(Infinity), hi = new Float64Array(nc).fill(-Infinity), pos = new Float64Array(nc).fill(Infinity);
      for (let k = 0; k < m; k++) {
        const r = idx ? idx[k] : k;
        const x = xsAll[r];
        if (x !== x) { gaps = true; continue; }
        if (x < prev) sorted = false;
        prev = x;
        for (let j = 0; j < nc; j++) {
          const y = ysAll[j][r];
          if (y !== y) continue;
          if (y < lo[j]) lo[j] = y;
          if (y > hi[j]) hi[j] = y;
          if (y > 0 && y < pos[j]) pos[j] = y;
        }
      }
      if (gaps || !sorted) {
        idx = (idx || Array.from({ length: n }, (_, k) => k)).filter((r) => xsAll[r] === xsAll[r]);
        if (!sorted) idx.sort((a, b) => xsAll[a] - xsAll[b]);
      }
      const pick = (all) => {
        if (!idx) return all;
        const v = new Float64Array(idx.length);
        for (let k = 0; k < idx.length; k++) v[k] = all[idx[k]];
        return v;
      };
      const xs = pick(xsAll);
      numeric.forEach((ci, k) => {
        out.push({ name: (key ? key + " " : "") + res.columns[ci], xs, ys: pick(ysAll[k]), yRange: { min: lo[k], max: hi[k], minPositive: pos[k] } });
      });
    }
    return out;
  }

  // afterPaint calls f once the frame that shows what the page drew so
  // far is painted: a requestAnimationFrame callback runs before the
  // paint, a task posted from it after.
  function afterPaint(f) {
    requestAnimationFrame(() => { const ch = new MessageChannel(); ch.port1.onmessage = f; ch.port2.postMessage(null); });
  }

  // renderMarks turns a query's marks into the durations (ms) of its
  // parts: the answer's arrival (server and network), its decoding,
  // the table, the series, the chart (with the page's style and layout,
  // and the canvas alone), and the frame that shows it. render is from
  // the answer's last byte to the chart on screen.
  function renderMarks(m, res, series) {
    const ci = state.chart && series.length ? state.chart.info : {};
    return {
      rows: res.length, points: series.reduce((n, s) => n + s.xs.length, 0),
      answerMs: m.body - m.start, parseMs: m.parsed - m.body, tableMs: m.series - m.parsed,
      seriesMs: m.chart - m.series, chartMs: m.drawn - m.chart, layoutMs: ci.layoutMs || 0, canvasMs: ci.canvasMs || 0,
      paintMs: m.painted - m.drawn, renderMs: m.painted - m.body, totalMs: m.painted - m.start,
    };
  }

  async function runQuery(opts) {
    opts = opts || {};
    if (state.running) return;
    const lang = $("q-lang").value, db = $("q-db").value, text = $("q-text").value;
    if (!text.trim()) return;
    hideError();
    let sent;
    try { sent = expand(text, lang); } catch (e) { showError(e.message); return; }
    state.running = true;
    state.lastSent = sent;
    state.lastRender = null;
    if (!opts.auto) $("q-plan-box").hidden = true; // the plan shown was of another query
    $("q-status").textContent = "running…";
    const t0 = performance.now();
    const m = { start: t0 };
    try {
      let res;
      if (lang === "sql") {
        res = await sqlAnswer(db, sent, m);
      } else {
        res = fromInflux(await influx(db, sent, m));
      }
      m.table = performance.now();
      const ms = m.table - t0;
      state.result = res;
      if (!opts.keepPage) state.page = 0;
      if (!opts.auto) pushHistory({ lang, db, q: text });
      setItem(local, "silt.db", db);
      $("q-status").textContent = res.length + " rows in " + ms.toFixed(0) + " ms";
      renderStats(res, sent, ms);
      renderTable();
      m.series = performance.now();
      const series = seriesOf(res);
      m.chart = performance.now();
      renderChart(series);
      m.drawn = performance.now();
      afterPaint(() => { m.painted = performance.now(); state.lastRender = renderMarks(m, res, series); });
    } catch (e) {
      if (e.status === 401) return;
      $("q-status").textContent = "";
      showQueryError(e, sent, text, lang);
    } finally {
      state.running = false;
    }
  }

  // explainQuery runs the editor's query under EXPLAIN ANALYZE (both
  // languages take the prefix) and shows the plan's lines as text; the
  // results table keeps the last answer.
  async function explainQuery() {
    if (state.running) return;
    const lang = $("q-lang").value, db = $("q-db").value, text = $("q-text").value;
    if (!text.trim()) return;
    hideError();
    let sent;
    try { sent = expand(text, lang); } catch (e) { showError(e.message); return; }
    const q = "EXPLAIN ANALYZE " + sent.trim().replace(/;\s*$/, "");
    state.running = true;
    $("q-status").textContent = "explaining…";
    const t0 = performance.now();
    try {
      let lines = [];
      if (lang === "sql") {
        const body = await apiJSON("/api/v1/sql", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ db, sql: q }) });
        lines = ((body && body.rows) || []).map((r) => String(r[0]));
      } else {
        const body = await influx(db, q);
        for (const r of (body && body.results) || []) {
          if (r.error) throw new APIError(200, { error: r.error }, r.error);
          for (const s of r.series || []) for (const v of s.values || []) lines.push(String(v[v.length - 1]));
        }
      }
      const ms = performance.now() - t0;
      $("q-plan").textContent = lines.join("\n");
      const box = $("q-plan-box");
      box.hidden = false;
      box.open = true;
      $("q-status").textContent = "plan of " + lines.length + " lines in " + ms.toFixed(0) + " ms";
    } catch (e) {
      if (e.status === 401) return;
      $("q-status").textContent = "";
      showQueryError(e, q, text, lang);
    } finally {
      state.running = false;
    }
  }

  function hideError() { $("q-error").hidden = true; $("q-error").replaceChildren(); highlight(); }
  function showError(msg) {
    const box = $("q-error");
    box.replaceChildren(el("div", { text: msg }));
    box.hidden = false;
  }

  // errorPosition is where (0-based, in UTF-16 units of sent) the server
  // says the error is: SQL's 1-based byte offset, or InfluxQL's "at line
  // L, char C".
  function errorPosition(e, sent) {
    const b = e.body || {};
    if (typeof b.position === "number" && b.position > 0) {
      const bytes = new TextEncoder().encode(sent);
      return new TextDecoder().decode(bytes.slice(0, b.position - 1)).length;
    }
    const m = /at line (\d+), char (\d+)/.exec(e.message);
    if (m) {
      const lines = sent.split("\n");
      let pos = 0;
      for (let i = 0; i < Number(m[1]) - 1 && i < lines.length; i++) pos += lines[i].length + 1;
      return pos + Number(m[2]) - 1;
    }
    return -1;
  }

  function showQueryError(e, sent, text, lang) {
    const pos = errorPosition(e, sent);
    const box = $("q-error");
    const parts = [el("div", { class: "msg", text: e.message })];
    if (e.body && e.body.code) parts.push(el("div", { class: "muted", text: "code: " + e.body.code + (e.status ? " (HTTP " + e.status + ")" : "") }));
    if (pos >= 0) {
      const lineStart = sent.lastIndexOf("\n", pos - 1) + 1;
      let lineEnd = sent.indexOf("\n", pos);
      if (lineEnd < 0) lineEnd = sent.length;
      const lineNo = sent.slice(0, lineStart).split("\n").length;
      const col = pos - lineStart + 1;
      parts.push(el("div", { class: "where", text: "at line " + lineNo + ", column " + col }));
      parts.push(el("pre", { class: "caret", text: sent.slice(lineStart, lineEnd) + "\n" + " ".repeat(pos - lineStart) + "^" }));
      box.dataset.position = String(pos);
      if (sent === text) {
        highlight(pos);
        const ta = $("q-text");
        ta.setSelectionRange(pos, Math.min(pos + 1, text.length));
      }
    } else {
      delete box.dataset.position;
    }
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  function renderStats(res, sent, ms) {
    $("q-sent").textContent = sent;
    const dl = $("q-stats");
    const items = [["round trip (ms)", ms.toFixed(1)], ["rows", res.length], ["columns", res.columns.length]];
    if (res.stats) for (const [k, v] of Object.entries(res.stats)) items.push([k, typeof v === "object" ? JSON.stringify(v) : v]);
    dl.replaceChildren(...items.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
  }

  const PAGE = 100;

  function cellText(v, isTime, epochMs) {
    if (v === null || v === undefined) return "";
    if (isTime && epochMs && typeof v === "number") return new Date(v).toISOString();
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  }

  function renderTable() {
    const res = state.result, host = $("q-table");
    if (!res || res.columns.length === 0) { host.replaceChildren(el("p", { class: "muted", text: "No rows." })); return; }
    const pages = Math.max(1, Math.ceil(res.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const first = state.page * PAGE, last = Math.min(res.length, first + PAGE);
    const thead = el("thead", null, el("tr", null, ...res.columns.map((c) => el("th", { scope: "col", text: c }))));
    const tbody = el("tbody");
    const numCols = res.cols.map((c, i) => i !== res.timeCol && (c.type === "" ? null : kindOf(c) === "num"));
    for (let r = first; r < last; r++) {
      const tr = el("tr");
      res.cols.forEach((c, i) => {
        const num = numCols[i] === null ? typeof c.value(r) === "number" : numCols[i];
        tr.append(el("td", { class: num ? "num" : "", text: c.text(r) }));
      });
      tbody.append(tr);
    }
    const pager = el("div", { class: "pager" },
      el("button", { type: "button", id: "q-prev", onclick: () => { state.page--; renderTable(); } }, "Previous"),
      el("span", { id: "q-page", text: "rows " + (first + 1) + "–" + last + " of " + res.length + " (page " + (state.page + 1) + " of " + pages + ")" }),
      el("button", { type: "button", id: "q-next", onclick: () => { state.page++; renderTable(); } }, "Next"));
    pager.children[0].disabled = state.page === 0;
    pager.children[2].disabled = state.page >= pages - 1;
    host.replaceChildren(pages > 1 ? pager : el("span"), el("table", { id: "q-results" }, thead, tbody));
  }

  function renderChart(series) {
    const res = state.result;
    series = series || seriesOf(res);
    const host = $("q-chart");
    if (series.length === 0) { host.hidden = true; state.chartData = null; return; }
    host.hidden = false;
    if (!state.chart) state.chart = new window.SiltChart(host, { onZoom: zoom, mode: $("q-mode").value, unit: $("q-unit").value });
    state.chartData = series;
    state.chart.setData(series, $("q-log").checked);
  }

  // zoom takes the range dragged on the chart: it becomes the absolute
  // range, and a query written with $timeFilter runs again over it; any
  // other query's chart shows that part of its answer.
  function zoom(from, to) {
    setAbsoluteRange(from, to);
    if (/\$timeFilter/.test($("q-text").value)) { runQuery({ auto: true }); return; }
    const cut = (state.chartData || seriesOf(state.result)).map((s) => {
      let a = 0, b = s.xs.length;
      while (a < b && s.xs[a] < from) a++;
      while (b > a && s.xs[b - 1] > to) b--;
      return { name: s.name, xs: s.xs.subarray(a, b), ys: s.ys.subarray(a, b) };
    });
    state.chart.setData(cut);
  }

  async function exportAs(format) {
    const lang = $("q-lang").value, db = $("q-db").value;
    let sent;
    try { sent = expand($("q-text").value, lang); } catch (e) { showError(e.message); return; }
    let resp, name;
    try {
      if (lang === "sql") {
        resp = await api("/api/v1/sql?format=" + format, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ db, sql: sent }) });
        name = "silt-query." + format;
      } else {
        // CSV as InfluxDB writes it; Arrow and Parquet as one table
        // (iox::measurement, time, tags, fields), as /api/v3 lays it out.
        const headers = format === "csv" ? { Accept: "application/csv" } : {};
        resp = await api("/query", { method: "POST", headers, body: new URLSearchParams({ q: sent, db, format }) });
        name = "silt-query." + format;
      }
    } catch (e) { if (e.status !== 401) showError(e.message); return; }
    const blob = await resp.blob();
    if (!resp.ok) { showError(await blob.text()); return; }
    window.silt.lastExport = { name, bytes: blob.size, type: blob.type, head: (await blob.slice(0, 200).text()),
      tail: (await blob.slice(Math.max(0, blob.size - 4)).text()) };
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function setRefresh() {
    clearInterval(state.refreshTimer);
    const s = Number($("q-refresh").value);
    state.refreshTimer = s > 0 ? setInterval(() => {
      if (state.view === "query" && !document.hidden && $("q-text").value.trim()) runQuery({ auto: true, keepPage: true });
    }, s * 1000) : 0;
  }

  // ---- explore ----

  function quoteSQL(name) { return '"' + name.replace(/"/g, '""') + '"'; }
  function quoteInflux(name) { return '"' + name.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"'; }

  const explore = { db: "", table: "" };

  function renderDbList() {
    const ul = $("x-dbs");
    ul.replaceChildren(...state.dbs.map((d) => el("li", null,
      el("button", { type: "button", "aria-current": String(d === explore.db), onclick: () => openDb(d) }, d))));
    if (state.dbs.length === 0) ul.append(el("li", { class: "muted", text: "No databases yet: write some data." }));
  }

  async function openDb(db) {
    explore.db = db;
    renderDbList();
    $("x-detail").replaceChildren();
    try {
      const body = await apiJSON("/api/v1/tables?db=" + encodeURIComponent(db));
      explore.tables = body.tables || [];
      $("x-tables").replaceChildren(...explore.tables.map((t) => el("li", null,
        el("button", { type: "button", "data-table": t.name, onclick: () => openTable(t) }, t.name))));
    } catch (e) { $("x-tables").replaceChildren(el("li", { class: "error", text: e.message })); }
  }

  async function openTable(t) {
    explore.table = t.name;
    for (const b of $("x-tables").querySelectorAll("button")) b.setAttribute("aria-current", String(b.dataset.table === t.name));
    const d = $("x-detail");
    const numeric = (ty) => ["float", "integer", "unsigned", "int64", "uint64", "float64"].includes(String(ty).toLowerCase());
    const fields = el("table", null,
      el("thead", null, el("tr", null, el("th", { text: "field" }), el("th", { text: "type" }), el("th", { text: "" }))),
      el("tbody", null, ...t.fields.map((f) => el("tr", null, el("td", { text: f.name }), el("td", { text: f.type }),
        el("td", null, numeric(f.type) ? el("button", { type: "button", class: "chart-field", "data-field": f.name, onclick: () => chartField(t, f.name) }, "Chart") : "")))));
    const tags = el("table", { id: "x-tags" },
      el("thead", null, el("tr", null, el("th", { text: "tag" }), el("th", { text: "values" }), el("th", { text: "first values" }))),
      el("tbody"));
    d.replaceChildren(
      el("h2", { text: t.name }),
      el("div", { class: "toolbar" },
        el("button", { type: "button", id: "x-last", onclick: () => lastPoints(t) }, "Last 100 points")),
      el("h3", { text: "Fields" }), fields,
      el("h3", { text: "Tags" }), t.tags.length ? tags : el("p", { class: "muted", text: "No tags." }));
    for (const k of t.tags) {
      const row = el("tr", null, el("td", { text: k }), el("td", { class: "num", text: "…" }), el("td", { text: "" }));
      tags.tBodies[0].append(row);
      influx(explore.db, "SHOW TAG VALUES FROM " + quoteInflux(t.name) + " WITH KEY = " + quoteInflux(k)).then((body) => {
        const vals = [];
        for (const r of body.results || []) for (const s of r.series || []) for (const v of s.values || []) vals.push(v[1]);
        row.cells[1].textContent = String(vals.length);
        row.cells[2].textContent = vals.slice(0, 10).join(", ") + (vals.length > 10 ? ", …" : "");
      }).catch((e) => { row.cells[2].textContent = e.message; });
    }
  }

  function openQuery(lang, db, text) {
    $("q-lang").value = lang;
    $("q-db").value = db;
    $("q-text").value = text;
    highlight();
    showView("query");
  }

  function lastPoints(t) {
    openQuery("sql", explore.db, "SELECT * FROM " + quoteSQL(t.name) + " ORDER BY time DESC LIMIT 100");
    return runQuery();
  }

  // chartField opens a chart of a field's mean per interval, one series
  // per value of the table's first tag, over the last hour of its data.
  async function chartField(t, field) {
    const db = explore.db;
    const by = t.tags.length ? ", " + quoteInflux(t.tags[0]) : "";
    openQuery("influxql", db, "SELECT mean(" + quoteInflux(field) + ") FROM " + quoteInflux(t.name) +
      " WHERE $timeFilter GROUP BY time($interval)" + by + " fill(none)");
    try {
      const body = await apiJSON("/api/v1/sql", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ db, sql: "SELECT max(time) AS last FROM " + quoteSQL(t.name) }) });
      const last = Date.parse(body.rows && body.rows[0] && body.rows[0][0]);
      if (!isNaN(last) && last < Date.now() - 36e5) setAbsoluteRange(last - 36e5 + 1, last + 1);
    } catch (e) { /* the relative range stays */ }
    return runQuery();
  }

  // ---- status ----

  // parseMetrics reads Prometheus' text format into [name, labels, value].
  function parseMetrics(text) {
    const out = [];
    for (const line of text.split("\n")) {
      if (!line || line[0] === "#") continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[3]) for (const lm of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
      out.push([m[1], labels, Number(m[4])]);
    }
    return out;
  }

  function sum(ms, name, pred) {
    let s = 0, found = false;
    for (const [n, l, v] of ms) if (n === name && (!pred || pred(l))) { s += v; found = true; }
    return found ? s : null;
  }

  // byLabel sums a metric's samples per value of one label.
  function byLabel(ms, name, label) {
    const out = {};
    let found = false;
    for (const [n, l, v] of ms) if (n === name) { const k = l[label] || ""; out[k] = (out[k] || 0) + v; found = true; }
    return found ? out : null;
  }

  // quantile estimates the q-quantile of a histogram's observations from
  // cumulative bucket counts [{le, n}] (sorted by le), interpolating
  // within the bucket as Prometheus' histogram_quantile does.
  function quantile(q, buckets) {
    const total = buckets.length ? buckets[buckets.length - 1].n : 0;
    if (!(total > 0)) return null;
    const rank = q * total;
    let prevLe = 0, prevN = 0;
    for (const b of buckets) {
      if (b.n >= rank) {
        if (!isFinite(b.le)) return prevLe; // past the last bound: its lower edge
        return prevLe + (b.le - prevLe) * (b.n > prevN ? (rank - prevN) / (b.n - prevN) : 1);
      }
      prevLe = b.le; prevN = b.n;
    }
    return prevLe;
  }

  // latencyBuckets are silt_query_duration_seconds' buckets over every
  // front end, cumulative by le.
  function latencyBuckets(ms) {
    const byLe = new Map();
    for (const [n, l, v] of ms) if (n === "silt_query_duration_seconds_bucket") {
      const le = l.le === "+Inf" ? Infinity : Number(l.le);
      byLe.set(le, (byLe.get(le) || 0) + v);
    }
    return Array.from(byLe, ([le, n]) => ({ le, n })).sort((a, b) => a.le - b.le);
  }

  // CARDS are the status charts. get reads a value, or an object of
  // values (one series each), from a scrape; rate turns it into a rate
  // per second since the last scrape; derive computes the values from
  // this scrape and the last one. unit is the chart's (chart.js UNITS).
  const CARDS = [
    { id: "ingest", title: "Ingest (rows/s)", rate: true, unit: "ops", get: (m) => sum(m, "silt_rows_written_total") },
    { id: "ingest-bytes", title: "Ingest (bytes/s)", rate: true, unit: "bps", get: (m) => sum(m, "silt_ingest_bytes_total") },
    { id: "head", title: "Head against its bound (--max-head-bytes)", unit: "bytes", bound: "bound",
      get: (m) => { const h = sum(m, "silt_head_bytes"); return h === null ? null : { head: h, bound: sum(m, "silt_head_max_bytes") }; } },
    { id: "wal", title: "WAL (bytes)", unit: "bytes", get: (m) => sum(m, "silt_wal_bytes") },
    { id: "flushes", title: "Flushes (segments/s)", rate: true, unit: "ops", get: (m) => sum(m, "silt_segments_flushed_total") },
    { id: "segments", title: "Live segments", get: (m) => sum(m, "silt_segments_live") },
    { id: "window-max", title: "Segments in the fullest window", get: (m) => sum(m, "silt_window_segments_max") },
    { id: "compaction-backlog", title: "Compaction backlog (windows, segments)",
      get: (m) => { const w = sum(m, "silt_compaction_backlog_windows"); return w === null ? null : { windows: w, segments: sum(m, "silt_compaction_backlog_segments") }; } },
    { id: "queries", title: "Queries (/s) by front end", rate: true, unit: "ops", get: (m) => byLabel(m, "silt_query_duration_seconds_count", "frontend") },
    { id: "latency", title: "Query latency, all front ends (p50, p99)", unit: "s",
      derive: (m, prev) => {
        const cur = latencyBuckets(m);
        if (!prev) return null;
        const before = new Map(latencyBuckets(prev).map((b) => [b.le, b.n]));
        const d = cur.map((b) => ({ le: b.le, n: b.n - (before.get(b.le) || 0) }));
        const p50 = quantile(0.5, d), p99 = quantile(0.99, d);
        return p50 === null ? null : { p50, p99 };
      } },
    { id: "kafka-lag", title: "Kafka lag (messages)", optional: true, get: (m) => sum(m, "silt_kafka_partition_lag") },
    { id: "nats-lag", title: "NATS pending (messages)", optional: true, get: (m) => sum(m, "silt_nats_pending") },
    { id: "tier-backlog", title: "Tiering backlog (segments)", optional: true, get: (m) => sum(m, "silt_tier_backlog_segments") },
    { id: "tier-cold", title: "Cold segments", optional: true, get: (m) => sum(m, "silt_tier_cold_segments") },
  ];
  const STATUS_POINTS = 150;

  function formatNum(v) {
    if (v === null || isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(2) + " G";
    if (a >= 1e6) return (v / 1e6).toFixed(2) + " M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + " k";
    return String(Math.round(v * 100) / 100);
  }

  // cardText is a card's latest values as text, in its unit.
  function cardText(c, vals) {
    const f = (v) => (c.unit && v !== null ? window.SiltChart.formatValue(v, c.unit) : formatNum(v));
    const keys = Object.keys(vals);
    if (keys.length === 1 && keys[0] === "") return f(vals[""]);
    if (c.bound && vals.head !== undefined && vals[c.bound]) {
      return f(vals.head) + " of " + f(vals[c.bound]) + " (" + Math.round(100 * vals.head / vals[c.bound]) + "%)";
    }
    return keys.map((k) => k + " " + f(vals[k])).join(" · ");
  }

  async function scrape() {
    let text;
    try {
      const r = await api("/metrics");
      text = await r.text();
    } catch (e) { return; }
    const ms = parseMetrics(text), now = Date.now(), prev = state.lastMetrics;
    state.lastMetrics = { at: now, values: {}, ms };
    for (const c of CARDS) {
      let vals = null, raw = null;
      if (c.derive) {
        vals = c.derive(ms, prev && prev.ms);
        raw = vals;
      } else {
        raw = c.get(ms);
        state.lastMetrics.values[c.id] = raw;
        const one = raw !== null && typeof raw !== "object";
        const cur = raw === null ? null : (one ? { "": raw } : raw);
        if (!c.rate) vals = cur;
        else if (cur && prev && prev.values[c.id] !== null && prev.values[c.id] !== undefined) {
          const p = typeof prev.values[c.id] === "object" ? prev.values[c.id] : { "": prev.values[c.id] };
          const dt = (now - prev.at) / 1000;
          vals = {};
          for (const k of Object.keys(cur)) if (k in p) vals[k] = Math.max(0, (cur[k] - p[k]) / dt);
        }
      }
      let card = state.statusCharts[c.id];
      if (!card) {
        if (c.optional && raw === null) continue;
        const host = el("div", { class: "chart-host" });
        const nowEl = el("div", { class: "now", text: "–" });
        const box = el("div", { class: "card", "data-card": c.id }, el("h3", { text: c.title }), nowEl, host);
        $("s-cards").append(box);
        card = state.statusCharts[c.id] = { xs: [], series: {}, nowEl, chart: new window.SiltChart(host, { compact: true, unit: c.unit || "" }) };
      }
      if (vals === null) continue;
      // One point per scrape in every series of the card, NaN where a
      // series had no value (a gap).
      card.xs.push(now);
      for (const k of Object.keys(vals)) if (!card.series[k]) card.series[k] = card.xs.slice(0, -1).map(() => NaN);
      for (const [k, ys] of Object.entries(card.series)) ys.push(k in vals && vals[k] !== null ? vals[k] : NaN);
      if (card.xs.length > STATUS_POINTS) { card.xs.shift(); for (const ys of Object.values(card.series)) ys.shift(); }
      card.values = vals;
      const xs = Float64Array.from(card.xs);
      card.chart.setData(Object.entries(card.series).map(([k, ys]) => ({ name: k || c.title, xs, ys: Float64Array.from(ys) })));
      if (card.chart.series.length > 1 && !c.bound) {
        // The compact chart has no legend: each value is shown after its
        // series' color.
        card.nowEl.replaceChildren(...card.chart.series.flatMap((sr, i) => {
          const sw = el("span", { class: "swatch" });
          sw.style.background = sr.color; // CSSOM: the page's CSP refuses style attributes
          const v = vals[sr.name] === undefined ? null : vals[sr.name];
          return [i ? " · " : "", sw, cardText(c, { [sr.name]: v })];
        }));
      } else {
        card.nowEl.textContent = cardText(c, vals);
      }
    }
  }

  // rollupWidths are the server's rollup widths (silt_rollup_width_seconds)
  // as text: "10s, 1m, 1h".
  async function rollupWidths() {
    try {
      const ms = parseMetrics(await (await api("/metrics")).text());
      const secs = ms.filter(([n]) => n === "silt_rollup_width_seconds").map(([, , v]) => v).sort((a, b) => a - b);
      if (secs.length === 0) return "off";
      return secs.map((v) => (v % 3600 === 0 ? v / 3600 + "h" : v % 60 === 0 ? v / 60 + "m" : v + "s")).join(", ");
    } catch (e) { return e.message; }
  }

  async function renderStatusDbs() {
    const rows = [];
    const rollups = await rollupWidths();
    for (const db of state.dbs) {
      let tables = "", retention = "";
      try { tables = String(((await apiJSON("/api/v1/tables?db=" + encodeURIComponent(db))).tables || []).length); } catch (e) { tables = e.message; }
      try {
        const b = await influx(db, "SHOW RETENTION POLICIES ON " + quoteInflux(db));
        const s = b.results && b.results[0] && b.results[0].series && b.results[0].series[0];
        if (s) { const i = s.columns.indexOf("duration"); retention = s.values.map((v) => v[i]).join(", "); }
      } catch (e) { retention = e.message; }
      rows.push(el("tr", null, el("td", { text: db }), el("td", { class: "num", text: tables }), el("td", { text: retention === "0s" ? "forever" : retention }),
        el("td", { text: rollups })));
    }
    $("s-dbs").replaceChildren(el("table", null,
      el("thead", null, el("tr", null, el("th", { text: "database" }), el("th", { text: "tables" }), el("th", { text: "retention" }),
        el("th", { text: "rollups (--rollups, every database)" }))),
      el("tbody", null, ...rows)));
  }

  function startStatus() {
    if (state.metricsTimer) return;
    scrape();
    renderStatusDbs();
    state.metricsTimer = setInterval(() => { if (!document.hidden) scrape(); }, 2000);
  }
  function stopStatus() { clearInterval(state.metricsTimer); state.metricsTimer = 0; }

  // ---- write ----

  async function sendWrite() {
    const db = $("w-db").value.trim(), body = $("w-text").value;
    const status = $("w-status"), out = $("w-errors");
    out.replaceChildren();
    if (!db) { status.textContent = "Name a database."; status.className = "error"; return; }
    const fmt = $("w-format").value;
    const q = new URLSearchParams({ db, precision: $("w-precision").value });
    let path = (fmt === "ndjson" ? "/api/v1/ingest?" : "/write?") + q;
    let ctype = "text/plain; charset=utf-8";
    if (fmt === "csv") {
      const table = $("w-table").value.trim();
      if (!table) { status.textContent = "Name the table the CSV rows go to."; status.className = "error"; return; }
      q.set("table", table);
      if ($("w-tags").value.trim()) q.set("tags", $("w-tags").value.replace(/\s+/g, ""));
      if ($("w-time").value.trim() && $("w-time").value.trim() !== "time") q.set("time", $("w-time").value.trim());
      path = "/api/v1/import/csv?" + q;
      ctype = "text/csv; charset=utf-8";
    }
    status.className = "";
    status.textContent = "writing…";
    let resp, text;
    try {
      resp = await api(path, { method: "POST", headers: { "Content-Type": ctype }, body });
      text = await resp.text();
    } catch (e) { if (e.status !== 401) { status.textContent = e.message; status.className = "error"; } return; }
    const lines = body.split("\n").length - (body.endsWith("\n") ? 1 : 0);
    if (resp.ok) {
      status.textContent = fmt === "csv" ? "Wrote the CSV's rows to " + db + "." : "Wrote " + lines + " lines to " + db + ".";
      status.className = "ok";
      loadDatabases().catch(() => {});
      return;
    }
    let r = null;
    try { r = JSON.parse(text); } catch (e) { /* not JSON */ }
    status.className = "error";
    if (!r) { status.textContent = "HTTP " + resp.status + ": " + text; return; }
    if (typeof r.rejected === "number") {
      status.textContent = "Wrote " + r.written + " rows; rejected " + r.rejected + " lines.";
      const src = body.split("\n");
      const errs = r.errors && r.errors.length ? r.errors : [{ line: r.line, code: r.code, error: r.error }];
      out.replaceChildren(el("table", { id: "w-error-table" },
        el("thead", null, el("tr", null, el("th", { text: "line" }), el("th", { text: "code" }), el("th", { text: "error" }), el("th", { text: "text" }))),
        el("tbody", null, ...errs.map((e) => el("tr", null, el("td", { class: "num", text: String(e.line) }), el("td", { text: e.code || "" }),
          el("td", { text: e.error || "" }), el("td", { class: "mono", text: (src[e.line - 1] || "").slice(0, 200) }))))));
      if (r.rejected > errs.length) out.append(el("p", { class: "muted", text: "(the first " + errs.length + " are listed)" }));
      loadDatabases().catch(() => {});
    } else {
      status.textContent = r.error + (r.code ? " (" + r.code + ")" : "");
    }
  }

  async function loadFile() {
    const f = $("w-file").files[0];
    if (!f) return;
    $("w-text").value = await f.text();
    if (/\.(nd)?json$/i.test(f.name)) $("w-format").value = "ndjson";
    if (/\.csv$/i.test(f.name)) {
      $("w-format").value = "csv";
      if (!$("w-table").value) $("w-table").value = f.name.replace(/\.csv$/i, "").replace(/[^A-Za-z0-9_.-]/g, "_");
    }
    csvOptions();
    $("w-status").textContent = f.name + ": " + f.size + " bytes loaded; press Write to send.";
    $("w-status").className = "";
  }

  // csvOptions shows the CSV upload's table and column settings when CSV
  // is the format.
  function csvOptions() { $("w-csv-opts").hidden = $("w-format").value !== "csv"; }

  // ---- wiring ----

  function wire() {
    for (const v of VIEWS) $("tab-" + v).addEventListener("click", () => showView(v));
    document.querySelector("nav").addEventListener("keydown", (e) => {
      const i = VIEWS.indexOf(state.view);
      let j = -1;
      if (e.key === "ArrowRight") j = (i + 1) % VIEWS.length;
      if (e.key === "ArrowLeft") j = (i + VIEWS.length - 1) % VIEWS.length;
      if (e.key === "Home") j = 0;
      if (e.key === "End") j = VIEWS.length - 1;
      if (j >= 0) { e.preventDefault(); showView(VIEWS[j]); $("tab-" + VIEWS[j]).focus(); }
    });
    $("theme").addEventListener("click", () => {
      const t = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      setItem(local, THEME_KEY, t);
      applyTheme(t);
    });
    $("logout").addEventListener("click", logout);
    $("login-form").addEventListener("submit", login);
    const ta = $("q-text");
    ta.addEventListener("input", () => highlight());
    ta.addEventListener("scroll", () => { $("q-highlight").scrollTop = ta.scrollTop; });
    ta.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runQuery(); }
    });
    $("q-run").addEventListener("click", () => runQuery());
    $("q-explain").addEventListener("click", () => explainQuery());
    $("q-csv").addEventListener("click", () => exportAs("csv"));
    $("q-arrow").addEventListener("click", () => exportAs("arrow"));
    $("q-parquet").addEventListener("click", () => exportAs("parquet"));
    $("q-log").addEventListener("change", () => { if (state.chart) state.chart.setLog($("q-log").checked); });
    // The chart's mode and unit are kept in the browser, as the theme.
    for (const [id, key, set] of [["q-mode", CHART_MODE_KEY, "setMode"], ["q-unit", CHART_UNIT_KEY, "setUnit"]]) {
      const v = getItem(local, key);
      if (v !== null && Array.from($(id).options).some((o) => o.value === v)) $(id).value = v;
      $(id).addEventListener("change", () => {
        setItem(local, key, $(id).value);
        if (state.chart) state.chart[set]($(id).value);
      });
    }
    $("q-range").addEventListener("change", () => {
      const abs = $("q-range").value === "abs";
      $("q-abs").hidden = !abs;
      if (abs && !$("q-from").value) { const now = Date.now(); setAbsoluteRange(now - 36e5, now); }
      if (/\$timeFilter/.test(ta.value) && state.result) runQuery({ auto: true });
    });
    $("q-refresh").addEventListener("change", setRefresh);
    $("q-lang").addEventListener("change", () => {
      if (!ta.value.trim() || ta.value === defaultQuery("sql") || ta.value === defaultQuery("influxql")) { ta.value = defaultQuery($("q-lang").value); highlight(); }
    });
    $("q-history").addEventListener("change", () => {
      const i = $("q-history").value;
      if (i === "") return;
      const e = loadHistory()[Number(i)];
      if (e) {
        $("q-lang").value = e.lang;
        if (state.dbs.includes(e.db)) $("q-db").value = e.db;
        ta.value = e.q;
        highlight();
      }
      $("q-history").value = "";
      ta.focus();
    });
    $("w-send").addEventListener("click", sendWrite);
    $("w-file").addEventListener("change", loadFile);
    $("w-format").addEventListener("change", csvOptions);
    window.addEventListener("hashchange", () => showView(location.hash.slice(1)));
  }

  function defaultQuery(lang) {
    return lang === "sql" ? "SHOW TABLES" : "SHOW MEASUREMENTS";
  }

  async function start() {
    applyTheme(initialTheme());
    wire();
    renderHistory();
    $("q-text").value = defaultQuery("sql");
    highlight();
    state.view = location.hash.slice(1) || "query";
    try {
      await loadDatabases();
      hideLogin();
    } catch (e) {
      if (e.status !== 401) showView(state.view);
    }
  }

  // For tests and the curious: the state and the chart's last drawing.
  window.silt = {
    state,
    chartInfo: () => (state.chart ? state.chart.info : null),
    // lastRender: renderMarks of the last query, once its frame is painted.
    lastRender: () => state.lastRender || null,
    chartData: () => (state.chartData || []).map((s) => ({ name: s.name, points: s.xs.length, xMin: s.xs[0], xMax: s.xs[s.xs.length - 1] })),
    run: runQuery,
    zoom: zoom,
  };
  document.addEventListener("DOMContentLoaded", start);
})();
