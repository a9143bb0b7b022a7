package main

// The segment files are claimed readable as-is by DuckDB
// (docs/format/segment.md). This test proves it with a real DuckDB: it
// writes a mixed dataset through the HTTP API, stops silt with SIGTERM (which
// flushes everything to segments), reads the segments with DuckDB's
// read_parquet and compares every row, value and type with what a restarted
// silt exports, and checks the footer metadata DuckDB sees.
//
// DuckDB runs through bench/duckdb/query.mjs (node + @duckdb/node-api, whose
// npm packages carry the DuckDB library). bench/duckdb/install.sh installs
// it into $SILT_DUCKDB_DIR (default
// ${SILT_TOOLS_DIR:-$HOME/.cache/silt-tools}/duckdb). Without it the test
// skips, except under CI=true, where it fails: CI must not skip it silently.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/segment"
)

// ---- DuckDB -------------------------------------------------------------

// duckDBDir is where bench/duckdb/install.sh puts DuckDB.
func duckDBDir() string {
	if d := os.Getenv("SILT_DUCKDB_DIR"); d != "" {
		return d
	}
	tools := os.Getenv("SILT_TOOLS_DIR")
	if tools == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.Getenv("HOME")
		}
		tools = filepath.Join(home, ".cache", "silt-tools")
	}
	return filepath.Join(tools, "duckdb")
}

type duckDB struct {
	t      *testing.T
	node   string
	script string
	dir    string
}

// needDuckDB returns a DuckDB runner, or skips the test when node or the
// DuckDB install is missing; under CI=true it fails instead.
func needDuckDB(t *testing.T) *duckDB {
	t.Helper()
	dir := duckDBDir()
	script, err := filepath.Abs(filepath.Join("..", "..", "bench", "duckdb", "query.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("query script: %v", err)
	}
	var why string
	node, err := exec.LookPath("node")
	if err != nil {
		why = "node is not in PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api", "package.json")); err != nil {
		why = "DuckDB (@duckdb/node-api) is not installed in " + dir
	}
	if why != "" {
		msg := why + ": run 'bash bench/duckdb/install.sh' (it installs into $SILT_DUCKDB_DIR, default ${SILT_TOOLS_DIR:-$HOME/.cache/silt-tools}/duckdb, where this test looks)"
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("CI=true, so a missing DuckDB fails rather than skips: %s", msg)
		}
		t.Skip(msg)
	}
	return &duckDB{t: t, node: node, script: script, dir: dir}
}

// query runs sql in a fresh in-memory DuckDB and returns its rows. Numbers
// stay json.Number: BIGINT and UBIGINT come as decimal strings, DOUBLE as
// JSON numbers in shortest round-trip form.
func (d *duckDB) query(sql string) []map[string]any {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard only
	defer cancel()
	cmd := exec.CommandContext(ctx, d.node, d.script, sql)
	cmd.Env = append(os.Environ(), "SILT_DUCKDB_DIR="+d.dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("duckdb query failed: %v\nSQL: %s\n%s", err, sql, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		d.t.Fatalf("duckdb output is not a JSON array of objects: %v\nSQL: %s\n%.500s", err, sql, out)
	}
	return rows
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func jsonString(t *testing.T, v any, what string) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s: want a JSON string, got %T %v", what, v, v)
	}
	return s
}

func jsonInt(t *testing.T, v any, what string) int64 {
	t.Helper()
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	default:
		t.Fatalf("%s: want an integer, got %T %v", what, v, v)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return n
}

// ---- points and the model of what silt must hold ------------------------

type fieldVal struct {
	Type columnar.FieldType
	Num  uint64
	Str  string
}

func fFloat(f float64) fieldVal { return fieldVal{Type: columnar.FieldFloat, Num: math.Float64bits(f)} }
func fInt(i int64) fieldVal     { return fieldVal{Type: columnar.FieldInt, Num: uint64(i)} }
func fUint(u uint64) fieldVal   { return fieldVal{Type: columnar.FieldUint, Num: u} }
func fStr(s string) fieldVal    { return fieldVal{Type: columnar.FieldString, Str: s} }
func fBool(b bool) fieldVal {
	v := fieldVal{Type: columnar.FieldBool}
	if b {
		v.Num = 1
	}
	return v
}

// String is the value as typed text: 1.5, -3i, 7u, true, "quoted".
func (v fieldVal) String() string {
	switch v.Type {
	case columnar.FieldFloat:
		return strconv.FormatFloat(math.Float64frombits(v.Num), 'g', -1, 64)
	case columnar.FieldInt:
		return strconv.FormatInt(int64(v.Num), 10) + "i"
	case columnar.FieldUint:
		return strconv.FormatUint(v.Num, 10) + "u"
	case columnar.FieldBool:
		return strconv.FormatBool(v.Num != 0)
	case columnar.FieldString:
		return strconv.Quote(v.Str)
	}
	return fmt.Sprintf("?type%d", v.Type)
}

// lineValue is the value as line protocol writes it.
func (v fieldVal) lineValue() string {
	if v.Type == columnar.FieldString {
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
		return `"` + r.Replace(v.Str) + `"`
	}
	return v.String()
}

type dpoint struct {
	tags   map[string]string
	time   int64
	fields map[string]fieldVal
}

// seriesOf is a canonical, unambiguous text of a tag set.
func seriesOf(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(k) + "=" + strconv.Quote(tags[k]))
	}
	return b.String()
}

type dkey struct {
	series string
	time   int64
}

// canonical is one row as text, with its time mapped by timeOf.
func (p *dpoint) canonical(timeOf func(int64) int64) string {
	keys := make([]string, 0, len(p.fields))
	for k := range p.fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(seriesOf(p.tags))
	b.WriteString(" @")
	b.WriteString(strconv.FormatInt(timeOf(p.time), 10))
	for _, k := range keys {
		b.WriteString(" " + strconv.Quote(k) + "=" + p.fields[k].String())
	}
	return b.String()
}

func exactNs(t int64) int64 { return t }

// floorMicros is what a microsecond timestamp type keeps of t.
func floorMicros(t int64) int64 {
	r := t % 1000
	if r < 0 {
		r += 1000
	}
	return t - r
}

// dtable is the model of one table: last write wins, field by field.
type dtable struct {
	points map[dkey]*dpoint
	tags   map[string]bool
	fields map[string]columnar.FieldType
}

type dmodel map[string]*dtable

func (m dmodel) apply(table string, p dpoint) {
	tb := m[table]
	if tb == nil {
		tb = &dtable{points: map[dkey]*dpoint{}, tags: map[string]bool{}, fields: map[string]columnar.FieldType{}}
		m[table] = tb
	}
	for k := range p.tags {
		tb.tags[k] = true
	}
	k := dkey{seriesOf(p.tags), p.time}
	cur := tb.points[k]
	if cur == nil {
		cur = &dpoint{tags: p.tags, time: p.time, fields: map[string]fieldVal{}}
		tb.points[k] = cur
	}
	for f, v := range p.fields {
		if prev, ok := tb.fields[f]; ok && prev != v.Type {
			panic("test writes field " + f + " with two types")
		}
		tb.fields[f] = v.Type
		cur.fields[f] = v
	}
}

func lineEscape(s, special string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// appendLine renders p; odd times list tags and fields in reverse order so
// that requests mix row shapes.
func appendLine(b []byte, table string, p dpoint) []byte {
	tags := make([]string, 0, len(p.tags))
	for k := range p.tags {
		tags = append(tags, k)
	}
	fields := make([]string, 0, len(p.fields))
	for k := range p.fields {
		fields = append(fields, k)
	}
	sort.Strings(tags)
	sort.Strings(fields)
	if p.time%2 != 0 {
		slices.Reverse(tags)
		slices.Reverse(fields)
	}
	b = append(b, lineEscape(table, ", ")...)
	for _, k := range tags {
		b = append(b, ',')
		b = append(b, lineEscape(k, ",= ")...)
		b = append(b, '=')
		b = append(b, lineEscape(p.tags[k], ",= ")...)
	}
	for i, k := range fields {
		if i == 0 {
			b = append(b, ' ')
		} else {
			b = append(b, ',')
		}
		b = append(b, lineEscape(k, ",= ")...)
		b = append(b, '=')
		b = append(b, p.fields[k].lineValue()...)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, p.time, 10)
	return append(b, '\n')
}

// duckWriter sends points in requests of at most 5000 lines and records
// each acknowledged one in the model.
type duckWriter struct {
	t     *testing.T
	p     *siltProc
	db    string
	model dmodel
	buf   []byte
	pend  []struct {
		table string
		p     dpoint
	}
}

func (w *duckWriter) add(table string, p dpoint) {
	w.buf = appendLine(w.buf, table, p)
	w.pend = append(w.pend, struct {
		table string
		p     dpoint
	}{table, p})
	if len(w.pend) >= 5000 {
		w.flush()
	}
}

func (w *duckWriter) flush() {
	w.t.Helper()
	if len(w.pend) == 0 {
		return
	}
	code, body, _, err := w.p.write(w.db, w.buf)
	if err != nil || code != 204 {
		w.t.Fatalf("write: status %d, err %v: %s", code, err, body)
	}
	for _, e := range w.pend {
		w.model.apply(e.table, e.p)
	}
	w.buf, w.pend = w.buf[:0], w.pend[:0]
}

// ---- the dataset ----------------------------------------------------------

// duckDay0 is 2024-03-09T00:00:00Z; data spans it and the two days after.
const duckDay0 = int64(1709942400) * 1e9

const duckDay = int64(24 * time.Hour)

var duckStrings = []string{
	"", "plain", `say "hi"`, `back\slash`, `trailing\`, "ünïcödé 東京 🚀", "comma, space = equals",
	"tab\there", "new\nline", "#not a comment", "'single'", `\"both\"`,
}

// cpuHostTags are the tags of host h; some hosts lack some tags.
func cpuHostTags(h int) map[string]string {
	regions := []string{"us-east-1", "eu-west-1", "ap-northeast-1"}
	tags := map[string]string{
		"hostname":            fmt.Sprintf("host_%d", h),
		"region":              regions[h%3],
		"datacenter":          regions[h%3] + string(rune('a'+h%4)),
		"rack":                strconv.Itoa(h % 10),
		"os":                  []string{"Ubuntu16.10", "Ubuntu15.10", "Debian"}[h%3],
		"service_environment": []string{"production", "staging", "test"}[h%3],
	}
	switch {
	case h == 7:
		tags["hostname"] = "host 7,x=y" // escapes
	case h == 8:
		tags["region"] = "東京-1"
		tags["datacenter"] = `quote"dc`
	case h == 39:
		return map[string]string{"hostname": "host_39"} // one tag only
	}
	if h%6 == 5 {
		delete(tags, "rack")
	}
	if h%9 == 4 {
		delete(tags, "os")
	}
	return tags
}

func cpuFields(r *rand.Rand, h, step int) map[string]fieldVal {
	f := map[string]fieldVal{
		"usage_user":   fFloat(r.Float64() * 100),
		"usage_system": fFloat(r.Float64() * 100),
		"usage_idle":   fFloat(math.Round(r.Float64()*1e4) / 100),
		"usage_nice":   fFloat(r.Float64()),
		"i":            fInt(r.Int64() - 1<<62),
		"u":            fUint(r.Uint64()),
		"b":            fBool(r.IntN(2) == 0),
		"s":            fStr(duckStrings[r.IntN(len(duckStrings))]),
	}
	switch step % 17 { // edge values
	case 1:
		f["i"], f["u"], f["usage_user"] = fInt(math.MinInt64), fUint(math.MaxUint64), fFloat(1e-310)
	case 2:
		f["i"], f["u"], f["usage_user"] = fInt(math.MaxInt64), fUint(0), fFloat(-math.MaxFloat64)
	case 3:
		f["i"], f["u"], f["usage_user"] = fInt(-1), fUint(1<<63), fFloat(0.1)
	case 4:
		f["i"], f["usage_user"] = fInt(0), fFloat(123456789.123456789)
	}
	if (h+step)%7 == 0 {
		delete(f, "usage_nice")
	}
	if step%5 == 3 {
		delete(f, "s")
	}
	if (h+step)%11 == 0 {
		delete(f, "b")
	}
	if step%13 == 12 {
		delete(f, "i")
	}
	if h%9 == 3 && step%2 == 0 {
		delete(f, "u")
	}
	return f
}

// writeDuckDataset writes phase one: the cpu table (132,400 rows on day 0,
// more than one row group; 2,000 on each of the next two days), overwrites
// of some of its points, and a small mem table.
func writeDuckDataset(w *duckWriter, r *rand.Rand) {
	const hosts = 40
	var keys []dpoint
	emit := func(h int, t int64, step int) {
		p := dpoint{tags: cpuHostTags(h), time: t, fields: cpuFields(r, h, step)}
		keys = append(keys, p)
		w.add("cpu", p)
	}
	for step := 0; step < 3310; step++ {
		for h := 0; h < hosts; h++ {
			emit(h, duckDay0+int64(step)*10e9+int64(h)*1_000_003+789, step)
		}
	}
	for day := int64(1); day <= 2; day++ {
		for step := 0; step < 50; step++ {
			for h := 0; h < hosts; h++ {
				emit(h, duckDay0+day*duckDay+int64(step)*60e9+int64(h)*1_000_003+789, step)
			}
		}
	}
	// Window edges: the last nanosecond of day 0, the first of day 1, the
	// last of day 2.
	emit(1, duckDay0+duckDay-1, 100)
	emit(2, duckDay0+duckDay, 101)
	emit(3, duckDay0+3*duckDay-1, 102)
	// Two distinct points of one series 1 ns apart, within one microsecond.
	for h := 0; h < 2; h++ {
		emit(h, duckDay0+duckDay+30*60e9+123, 103)
		emit(h, duckDay0+duckDay+30*60e9+124, 104)
	}
	w.flush()

	// Full overwrites: new values for every field (including fields the
	// point lacked).
	for range 1500 {
		k := keys[r.IntN(len(keys))]
		w.add("cpu", dpoint{tags: k.tags, time: k.time, fields: cpuFields(r, 0, 5)})
	}
	w.flush()
	// Partial overwrites: some fields only, merged with the rest; some
	// points twice in one request (the later wins), and a field that only
	// overwrites carry.
	for i := range 700 {
		k := keys[r.IntN(len(keys))]
		f := map[string]fieldVal{"usage_user": fFloat(-r.Float64()), "s": fStr(duckStrings[r.IntN(len(duckStrings))])}
		if i%14 == 0 {
			f["usage_guest"] = fFloat(float64(i) + 0.25)
		}
		w.add("cpu", dpoint{tags: k.tags, time: k.time, fields: f})
		if i%7 == 0 {
			w.add("cpu", dpoint{tags: k.tags, time: k.time, fields: map[string]fieldVal{"usage_user": fFloat(float64(i) + 0.5), "b": fBool(i%2 == 0)}})
		}
	}
	w.flush()

	// mem: a second table of the same database.
	for day := int64(0); day < 3; day++ {
		for step := int64(0); step < 20; step++ {
			for h := 0; h < 3; h++ {
				tags := map[string]string{"host": fmt.Sprintf("m%d", h), "zone": "z" + strconv.Itoa(h)}
				if h == 2 {
					delete(tags, "zone")
				}
				p := dpoint{tags: tags, time: duckDay0 + day*duckDay + step*3_600e9 + 5, fields: map[string]fieldVal{
					"used_percent": fFloat(r.Float64() * 100), "available": fInt(r.Int64N(1 << 40)),
					"total": fUint(1 << 34), "swapped": fBool(step%3 == 0), "note": fStr(duckStrings[int(step)%len(duckStrings)]),
				}}
				w.add("mem", p)
				if step == 7 {
					p.fields = map[string]fieldVal{"used_percent": fFloat(42.5)}
					w.add("mem", p) // duplicate in the same request
				}
			}
		}
	}
	w.flush()
}

// writeDuckGrowth writes phase two, after a restart: points carrying a new
// tag (team) and a new field (temp), so that the new segments have more
// columns than the old ones of the same days. No point of phase one is
// touched.
func writeDuckGrowth(w *duckWriter, r *rand.Rand) {
	for k := int64(0); k < 100; k++ {
		for h := 0; h < 10; h++ {
			w.add("cpu", dpoint{tags: cpuHostTags(h), time: duckDay0 + duckDay + 20*3_600e9 + k*1e9 + 555,
				fields: map[string]fieldVal{"usage_user": fFloat(r.Float64()), "temp": fFloat(20 + r.Float64())}})
		}
		w.add("cpu", dpoint{tags: map[string]string{"hostname": "host_new", "region": "eu-west-1", "team": "infra"},
			time:   duckDay0 + 2*duckDay + 20*3_600e9 + k*1e9 + 555,
			fields: map[string]fieldVal{"usage_user": fFloat(r.Float64()), "temp": fFloat(30 + r.Float64()), "i": fInt(-k)}})
	}
	w.flush()
}

// ---- reading back ---------------------------------------------------------

// exportPoints fetches db.table from a running silt and decodes it with the
// line protocol decoder (strings may hold quotes, backslashes, newlines).
func exportPoints(t *testing.T, p *siltProc, db, table string) map[dkey]*dpoint {
	t.Helper()
	code, body, err := p.get("/api/v1/export?db=" + db + "&table=" + table)
	if err != nil || code != 200 {
		t.Fatalf("export %s.%s: status %d, err %v: %.300s", db, table, code, err, body)
	}
	if bytes.Contains(body, []byte("# silt: export failed")) {
		t.Fatalf("export %s.%s failed mid-stream", db, table)
	}
	var b columnar.Batch
	var errs []string
	lineprotocol.Decode(body, &b, lineprotocol.Options{}, func(e columnar.LineError) { errs = append(errs, e.Error()) })
	if len(errs) > 0 {
		t.Fatalf("export of %s.%s does not decode: %v", db, table, errs[:min(5, len(errs))])
	}
	out := map[dkey]*dpoint{}
	for i := range b.Rows {
		row := &b.Rows[i]
		if got := b.Str(row.Table); got != table {
			t.Fatalf("export of %s holds a row of %s", table, got)
		}
		p := &dpoint{tags: map[string]string{}, time: row.Time, fields: map[string]fieldVal{}}
		for _, tg := range b.RowTags(row) {
			p.tags[b.Str(tg.Key)] = b.Str(tg.Value)
		}
		for _, f := range b.RowFields(row) {
			v := fieldVal{Type: f.Type, Num: f.Num}
			if f.Type == columnar.FieldString {
				v = fStr(b.Str(f.Str))
			}
			p.fields[b.Str(f.Key)] = v
		}
		k := dkey{seriesOf(p.tags), p.time}
		if _, dup := out[k]; dup {
			t.Fatalf("export of %s holds point %v twice", table, k)
		}
		out[k] = p
	}
	return out
}

// diffRows compares two multisets of canonical rows and returns a summary
// with a few examples of each side's extras, or "" when they are equal.
func diffRows(wantName string, want []string, gotName string, got []string) string {
	slices.Sort(want)
	slices.Sort(got)
	var onlyWant, onlyGot []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j >= len(got) || (i < len(want) && want[i] < got[j]):
			onlyWant = append(onlyWant, want[i])
			i++
		case i >= len(want) || got[j] < want[i]:
			onlyGot = append(onlyGot, got[j])
			j++
		default:
			i++
			j++
		}
	}
	if len(onlyWant) == 0 && len(onlyGot) == 0 {
		return ""
	}
	return fmt.Sprintf("%s has %d rows, %s %d; %d only in %s, e.g.\n  %s\n%d only in %s, e.g.\n  %s",
		wantName, len(want), gotName, len(got),
		len(onlyWant), wantName, strings.Join(onlyWant[:min(8, len(onlyWant))], "\n  "),
		len(onlyGot), gotName, strings.Join(onlyGot[:min(8, len(onlyGot))], "\n  "))
}

func canonicalRows(pts map[dkey]*dpoint, timeOf func(int64) int64) []string {
	out := make([]string, 0, len(pts))
	for _, p := range pts {
		out = append(out, p.canonical(timeOf))
	}
	return out
}

// duckTypeOf is the DuckDB type a field of each silt type must read as.
var duckTypeOf = map[columnar.FieldType]string{
	columnar.FieldFloat:  "DOUBLE",
	columnar.FieldInt:    "BIGINT",
	columnar.FieldUint:   "UBIGINT",
	columnar.FieldBool:   "BOOLEAN",
	columnar.FieldString: "VARCHAR",
}

// duckRow is one row as DuckDB read it.
type duckRow struct {
	p    *dpoint
	file string
	rn   int64
}

// duckCheck compares what DuckDB reads from the segments of db.table with
// the export of a restarted silt. It returns DuckDB's type of the time
// column.
func duckCheck(t *testing.T, d *duckDB, dataDir, db, table string, model *dtable, exp map[dkey]*dpoint, phase string) string {
	t.Helper()
	glob := filepath.Join(dataDir, "segments", segment.PathName(db), segment.PathName(table), "*", "*.parquet")
	files, _ := filepath.Glob(glob)
	src := "read_parquet(" + sqlString(glob) + ", union_by_name = true, filename = true, file_row_number = true)"

	// Types.
	colType := map[string]string{}
	for _, r := range d.query("DESCRIBE SELECT * EXCLUDE (filename, file_row_number) FROM " + src) {
		colType[jsonString(t, r["column_name"], "column_name")] = jsonString(t, r["column_type"], "column_type")
	}
	timeType := colType[columnar.TimeColumn]
	// Segments leave time unflagged as UTC-adjusted precisely so that DuckDB
	// reads nanoseconds (TIMESTAMP_NS) rather than microseconds (TIMESTAMPTZ).
	if timeType != "TIMESTAMP_NS" {
		t.Errorf("%s %s: DuckDB reads time as %q; want TIMESTAMP_NS (exact nanoseconds)", phase, table, timeType)
	}
	// Every point's write stamp (format version 2): one more column,
	// outside the table's schema.
	wantCols := map[string]string{columnar.TimeColumn: timeType, segment.StampColumn: "BIGINT"}
	for k := range model.tags {
		wantCols[k] = "VARCHAR"
	}
	for f, ty := range model.fields {
		wantCols[f] = duckTypeOf[ty]
	}
	if fmt.Sprint(colType) != fmt.Sprint(wantCols) {
		t.Errorf("%s %s: DuckDB columns and types\n  got  %v\n  want %v", phase, table, colType, wantCols)
	}
	t.Logf("%s %s: %d segment files; DuckDB types: %v", phase, table, len(files), colType)

	// Rows.
	raw := d.query("SELECT * EXCLUDE (time, filename, file_row_number, " + segment.StampColumn + "), epoch_ns(time) AS __ns, " +
		segment.StampColumn + " AS __stamp, filename AS __file, file_row_number AS __rn FROM " + src)
	var rows []duckRow
	for _, r := range raw {
		if st := jsonInt(t, r["__stamp"], "__stamp"); st <= 0 {
			t.Fatalf("%s %s: a row with write stamp %d", phase, table, st)
		}
		p := &dpoint{tags: map[string]string{}, time: jsonInt(t, r["__ns"], "__ns"), fields: map[string]fieldVal{}}
		for col, v := range r {
			if strings.HasPrefix(col, "__") || v == nil {
				continue
			}
			what := fmt.Sprintf("%s column %s", table, col)
			if model.tags[col] {
				p.tags[col] = jsonString(t, v, what)
				continue
			}
			var fv fieldVal
			switch colType[col] {
			case "DOUBLE":
				n, ok := v.(json.Number)
				if !ok {
					t.Fatalf("%s: DOUBLE as %T %v", what, v, v)
				}
				f, err := strconv.ParseFloat(n.String(), 64)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				fv = fFloat(f)
			case "BIGINT":
				fv = fInt(jsonInt(t, v, what))
			case "UBIGINT":
				u, err := strconv.ParseUint(jsonString(t, v, what), 10, 64)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				fv = fUint(u)
			case "BOOLEAN":
				b, ok := v.(bool)
				if !ok {
					t.Fatalf("%s: BOOLEAN as %T %v", what, v, v)
				}
				fv = fBool(b)
			case "VARCHAR":
				fv = fStr(jsonString(t, v, what))
			default:
				t.Fatalf("%s: unexpected DuckDB type %q", what, colType[col])
			}
			p.fields[col] = fv
		}
		rows = append(rows, duckRow{p: p, file: jsonString(t, r["__file"], "__file"), rn: jsonInt(t, r["__rn"], "__rn")})
	}
	if len(rows) != len(exp) {
		t.Errorf("%s %s: DuckDB reads %d rows, silt exports %d", phase, table, len(rows), len(exp))
	}
	if n := jsonInt(t, d.query("SELECT count(*) AS n FROM read_parquet(" + sqlString(glob) + ", union_by_name = true)")[0]["n"], "count"); n != int64(len(exp)) {
		t.Errorf("%s %s: DuckDB count(*) = %d, silt exports %d", phase, table, n, len(exp))
	}

	// Values: DuckDB against the export. A microsecond time type keeps the
	// time truncated to microseconds, so compare at that precision then.
	timeOf := exactNs
	if timeType != "TIMESTAMP_NS" {
		timeOf = floorMicros
		subMicros := 0
		for k := range exp {
			if k.time%1000 != 0 {
				subMicros++
			}
		}
		t.Logf("%s %s: DuckDB reads time as %s (microseconds): %d of %d points lose their sub-microsecond digits; values compared at microsecond precision",
			phase, table, timeType, subMicros, len(exp))
	}
	got := make([]string, len(rows))
	for i, r := range rows {
		got[i] = r.p.canonical(exactNs)
	}
	if diff := diffRows("silt export", canonicalRows(exp, timeOf), "DuckDB", got); diff != "" {
		t.Errorf("%s %s: DuckDB rows differ from silt's export: %s", phase, table, diff)
	}

	// Each file: footer metadata, row order, and what parquet_metadata shows.
	byFile := map[string][]duckRow{}
	for _, r := range rows {
		byFile[r.file] = append(byFile[r.file], r)
	}
	// Export points by microsecond key, to find the exact times of a file's rows.
	expByMicros := map[dkey][]int64{}
	for k := range exp {
		mk := dkey{k.series, timeOf(k.time)}
		expByMicros[mk] = append(expByMicros[mk], k.time)
	}
	kv := d.query("SELECT file_name, decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(" + sqlString(glob) + ")")
	infos := map[string]segment.SegmentInfo{}
	sawIndex := map[string]bool{}
	for _, r := range kv {
		file := jsonString(t, r["file_name"], "file_name")
		switch jsonString(t, r["k"], "key") {
		case segment.MetaKeyInfo:
			var info segment.SegmentInfo
			if err := json.Unmarshal([]byte(jsonString(t, r["v"], "value")), &info); err != nil {
				t.Errorf("%s: %s does not parse as JSON: %v", file, segment.MetaKeyInfo, err)
			}
			infos[file] = info
		case segment.MetaKeyIndex:
			idx, err := base64.StdEncoding.DecodeString(jsonString(t, r["v"], "value"))
			if err != nil || len(idx) == 0 || idx[0] != 1 {
				t.Errorf("%s: %s is not a version-1 base64 tag index (err %v)", file, segment.MetaKeyIndex, err)
			}
			sawIndex[file] = true
		}
	}
	if len(infos) != len(files) || len(byFile) != len(files) {
		t.Errorf("%s %s: %d segment files, %d with %s metadata, %d with rows in DuckDB", phase, table, len(files), len(infos), segment.MetaKeyInfo, len(byFile))
	}
	for file, frows := range byFile {
		info, ok := infos[file]
		if !ok {
			t.Errorf("%s: no %s key-value metadata", file, segment.MetaKeyInfo)
			continue
		}
		if !sawIndex[file] {
			t.Errorf("%s: no %s key-value metadata", file, segment.MetaKeyIndex)
		}
		slices.SortFunc(frows, func(a, b duckRow) int { return int(a.rn - b.rn) })
		minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
		series := map[string]bool{}
		for i, r := range frows {
			if r.rn != int64(i) {
				t.Fatalf("%s: file_row_number %d at position %d", file, r.rn, i)
			}
			s := seriesOf(r.p.tags)
			series[s] = true
			for _, et := range expByMicros[dkey{s, r.p.time}] {
				minT, maxT = min(minT, et), max(maxT, et)
			}
			if i > 0 {
				if c := compareSegmentOrder(info.Tags, frows[i-1].p, r.p); c > 0 || (c == 0 && timeType == "TIMESTAMP_NS") {
					t.Errorf("%s: rows %d and %d are not in (tags in %v, time) order:\n  %s\n  %s", file, i-1, i, info.Tags,
						frows[i-1].p.canonical(exactNs), r.p.canonical(exactNs))
					break
				}
			}
		}
		window := filepath.Base(filepath.Dir(file))
		fields := map[string]columnar.FieldType{}
		for _, f := range info.Fields {
			fields[f.Name] = f.Type
		}
		wantTags := slices.Sorted(func(yield func(string) bool) {
			for k := range model.tags {
				if !yield(k) {
					return
				}
			}
		})
		gotTags := slices.Sorted(slices.Values(info.Tags))
		switch {
		case info.Version != 2 || !info.WriteStamps || info.DB != db || info.Table != table:
			t.Errorf("%s: %s says version %d db %q table %q", file, segment.MetaKeyInfo, info.Version, info.DB, info.Table)
		case info.Rows != int64(len(frows)):
			t.Errorf("%s: %s says %d rows; DuckDB reads %d", file, segment.MetaKeyInfo, info.Rows, len(frows))
		case info.Series != len(series):
			t.Errorf("%s: %s says %d series; DuckDB reads %d", file, segment.MetaKeyInfo, info.Series, len(series))
		case info.MinTime != minT || info.MaxTime != maxT:
			t.Errorf("%s: %s says times [%d, %d]; the export's points of this file span [%d, %d]", file, segment.MetaKeyInfo, info.MinTime, info.MaxTime, minT, maxT)
		case time.Unix(0, info.MinTime).UTC().Format("2006-01-02") != window || time.Unix(0, info.MaxTime).UTC().Format("2006-01-02") != window:
			t.Errorf("%s: times [%d, %d] outside window %s", file, info.MinTime, info.MaxTime, window)
		case !slices.Equal(info.Sorting, append(slices.Clone(info.Tags), columnar.TimeColumn)):
			t.Errorf("%s: sorted_by %v; want the tags %v then time", file, info.Sorting, info.Tags)
		case len(info.Tags) > len(wantTags) || !isSubset(gotTags, wantTags):
			t.Errorf("%s: tags %v; want a subset of %v", file, info.Tags, wantTags)
		}
		for f, ty := range fields {
			if model.fields[f] != ty {
				t.Errorf("%s: %s field %s has type %d; want %d", file, segment.MetaKeyInfo, f, ty, model.fields[f])
			}
		}
	}

	// Column chunks: zstd everywhere, row groups within RowGroupRows, the
	// encodings the format doc names.
	rgs := map[string]map[int64]int64{} // file → row group → rows
	for _, r := range d.query("SELECT file_name, row_group_id, row_group_num_rows, path_in_schema, compression, encodings FROM parquet_metadata(" + sqlString(glob) + ")") {
		file := jsonString(t, r["file_name"], "file_name")
		col := jsonString(t, r["path_in_schema"], "path_in_schema")
		rg, n := jsonInt(t, r["row_group_id"], "row_group_id"), jsonInt(t, r["row_group_num_rows"], "row_group_num_rows")
		if rgs[file] == nil {
			rgs[file] = map[int64]int64{}
		}
		rgs[file][rg] = n
		if c := jsonString(t, r["compression"], "compression"); c != "ZSTD" {
			t.Errorf("%s row group %d column %s: compression %s; want ZSTD", file, rg, col, c)
		}
		enc := jsonString(t, r["encodings"], "encodings")
		switch {
		case col == columnar.TimeColumn && !strings.Contains(enc, "DELTA_BINARY_PACKED"):
			t.Errorf("%s: time encodings %s; want DELTA_BINARY_PACKED", file, enc)
		case model.tags[col] && !strings.Contains(enc, "RLE_DICTIONARY"):
			t.Errorf("%s: tag %s encodings %s; want RLE_DICTIONARY", file, col, enc)
		case col == segment.StampColumn && !strings.Contains(enc, "RLE_DICTIONARY"):
			t.Errorf("%s: write stamp encodings %s; want RLE_DICTIONARY", file, enc)
		}
	}
	for file, groups := range rgs {
		var sum int64
		for rg, n := range groups {
			sum += n
			if n > segment.RowGroupRows {
				t.Errorf("%s: row group %d has %d rows; at most %d", file, rg, n, segment.RowGroupRows)
			}
		}
		if info, ok := infos[file]; ok && sum != info.Rows {
			t.Errorf("%s: row groups hold %d rows; footer says %d", file, sum, info.Rows)
		}
		if sum > segment.RowGroupRows && len(groups) < 2 {
			t.Errorf("%s: %d rows in %d row group", file, sum, len(groups))
		}
	}

	// Parquet physical and logical types, as DuckDB decodes the schema.
	logged := map[string]bool{}
	for _, r := range d.query("SELECT name, type, logical_type, converted_type FROM parquet_schema(" + sqlString(glob) + ")") {
		name := jsonString(t, r["name"], "name")
		typ, _ := r["type"].(string)
		logical, _ := r["logical_type"].(string)
		converted, _ := r["converted_type"].(string)
		if typ == "" {
			continue // the root
		}
		desc := fmt.Sprintf("%s %s (logical %s, converted %s)", name, typ, logical, converted)
		if !logged[name] {
			logged[name] = true
			t.Logf("%s %s parquet_schema: %s", phase, table, desc)
		}
		var ok bool
		switch ty, isField := model.fields[name]; {
		case name == segment.StampColumn:
			ok = typ == "INT64" && strings.Contains(logical, "isSigned=1") && converted == "INT_64"
		case name == columnar.TimeColumn:
			ok = typ == "INT64" && strings.HasPrefix(logical, "TimestampType(") && strings.Contains(logical, "NANOS=NanoSeconds()")
		case model.tags[name]:
			ok = typ == "BYTE_ARRAY" && logical == "StringType()"
		case !isField:
		case ty == columnar.FieldFloat:
			ok = typ == "DOUBLE"
		case ty == columnar.FieldInt:
			ok = typ == "INT64" && strings.Contains(logical, "isSigned=1") && converted == "INT_64"
		case ty == columnar.FieldUint:
			ok = typ == "INT64" && strings.Contains(logical, "isSigned=0") && converted == "UINT_64"
		case ty == columnar.FieldBool:
			ok = typ == "BOOLEAN"
		case ty == columnar.FieldString:
			ok = typ == "BYTE_ARRAY" && logical == "StringType()"
		}
		if !ok && !logged["bad "+desc] {
			logged["bad "+desc] = true
			t.Errorf("%s %s: unexpected Parquet column %s", phase, table, desc)
		}
	}
	return timeType
}

func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// compareSegmentOrder orders rows as segments must be sorted: tag values in
// the schema's tag order, an absent tag first, then time.
func compareSegmentOrder(tags []string, a, b *dpoint) int {
	for _, k := range tags {
		va, oka := a.tags[k]
		vb, okb := b.tags[k]
		switch {
		case oka != okb:
			if !oka {
				return -1
			}
			return 1
		case va != vb:
			return strings.Compare(va, vb)
		}
	}
	switch {
	case a.time < b.time:
		return -1
	case a.time > b.time:
		return 1
	}
	return 0
}

func checkModel(t *testing.T, what string, model *dtable, exp map[dkey]*dpoint) {
	t.Helper()
	if diff := diffRows("the writes", canonicalRows(model.points, exactNs), "silt export", canonicalRows(exp, exactNs)); diff != "" {
		t.Fatalf("%s: silt's export differs from what was written (last write wins, field by field): %s", what, diff)
	}
}

// TestSegmentsReadableByDuckDB: DuckDB reads silt's segments as they are.
func TestSegmentsReadableByDuckDB(t *testing.T) {
	skipShort(t)
	d := needDuckDB(t)
	start := time.Now()
	t.Logf("DuckDB %v from %s", d.query("SELECT version() AS v")[0]["v"], d.dir)

	const db = "duck"
	h := newHarness(t)
	dataDir := filepath.Join(h.dir, "data")
	// No flush before shutdown: one segment per table and day, so every
	// point is in one file only.
	flags := []string{"--flush-bytes", "8GiB", "--max-head-bytes", "16GiB", "--flush-interval", "24h"}
	r := rand.New(rand.NewPCG(20240309, 1))

	// Phase one: the dataset, then SIGTERM, which flushes it.
	p := h.start(dataDir, flags...)
	w := &duckWriter{t: t, p: p, db: db, model: dmodel{}}
	writeDuckDataset(w, r)
	if code := p.term(); code != 0 {
		t.Fatalf("silt exited with %d after SIGTERM", code)
	}
	for _, table := range []string{"cpu", "mem"} {
		days, _ := filepath.Glob(filepath.Join(dataDir, "segments", db, table, "*"))
		for i := range days {
			days[i] = filepath.Base(days[i])
		}
		if want := []string{"2024-03-09", "2024-03-10", "2024-03-11"}; !slices.Equal(days, want) {
			t.Fatalf("%s: segment days %v; want %v", table, days, want)
		}
	}
	// A restarted silt exports what it reads from the segments; DuckDB
	// reads the same files.
	p = h.start(dataDir, flags...)
	exports := map[string]map[dkey]*dpoint{}
	timeType := ""
	for _, table := range []string{"cpu", "mem"} {
		exports[table] = exportPoints(t, p, db, table)
		checkModel(t, table, w.model[table], exports[table])
		timeType = duckCheck(t, d, dataDir, db, table, w.model[table], exports[table], "after flush")
	}
	if t.Failed() {
		return
	}

	// Phase two: a new tag and a new field; the new segments have more
	// columns than the old ones of the same days.
	w.p = p
	writeDuckGrowth(w, r)
	if code := p.term(); code != 0 {
		t.Fatalf("silt exited with %d after SIGTERM", code)
	}
	glob := filepath.Join(dataDir, "segments", db, "cpu", "*", "*.parquet")
	var plain []string
	for _, row := range d.query("DESCRIBE SELECT * FROM read_parquet(" + sqlString(glob) + ")") {
		plain = append(plain, jsonString(t, row["column_name"], "column_name"))
	}
	if !slices.Contains(plain, "team") || !slices.Contains(plain, "temp") {
		t.Logf("note: without union_by_name = true DuckDB takes the columns of the first file and drops the new ones: %v", plain)
	}
	p = h.start(dataDir, flags...)
	exports["cpu"] = exportPoints(t, p, db, "cpu")
	checkModel(t, "cpu after growth", w.model["cpu"], exports["cpu"])
	duckCheck(t, d, dataDir, db, "cpu", w.model["cpu"], exports["cpu"], "after schema growth")
	if code := p.term(); code != 0 {
		t.Fatalf("silt exited with %d after SIGTERM", code)
	}
	t.Logf("%d cpu and %d mem points checked; DuckDB time type %s; %v", len(exports["cpu"]), len(exports["mem"]), timeType, time.Since(start).Round(time.Millisecond))
}
