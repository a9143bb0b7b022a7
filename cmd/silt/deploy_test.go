package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/server"
)

// The deploy files cannot run here (no Docker engine, no systemd as PID 1):
// these tests check what can be checked without them, against the real
// flags, the real Makefile and a real server.

const repoRoot = "../.."

func readRepoFile(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// parseServeArgs parses args (after "serve") with silt serve's flags.
func parseServeArgs(t *testing.T, what string, args []string) *serveConfig {
	t.Helper()
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.registerFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%s: silt serve %q: %v", what, args, err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("%s: silt serve takes no arguments, got %q", what, fs.Args())
	}
	return &cfg
}

// startSilt runs a real server in the process on ephemeral ports.
func startSilt(t *testing.T) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(eng, server.Config{Logger: log})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		if err := eng.Close(); err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// The systemd unit has its hardening, runs silt serve with flags that
// exist, and passes systemd-analyze verify.
func TestSystemdUnit(t *testing.T) {
	raw := string(readRepoFile(t, "deploy/silt.service"))
	keys := map[string][]string{}
	for _, line := range strings.Split(raw, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("not a key=value line: %q", line)
		}
		keys[k] = append(keys[k], v)
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/silt",
		"StateDirectory": "silt", "Restart": "on-failure", "NoNewPrivileges": "yes", "LimitNOFILE": "65536",
	} {
		if !slices.Contains(keys[k], want) {
			t.Errorf("%s=%s missing: %v", k, want, keys[k])
		}
	}
	exec0 := keys["ExecStart"]
	if len(exec0) != 1 {
		t.Fatalf("ExecStart: %q", exec0)
	}
	args := strings.Fields(exec0[0])
	if args[0] != "/usr/local/bin/silt" || args[1] != "serve" {
		t.Fatalf("ExecStart runs %q", args)
	}
	cfg := parseServeArgs(t, "ExecStart", args[2:])
	if cfg.engine.DataDir != keys["ReadWritePaths"][0] {
		t.Errorf("--data-dir %s is not the writable path %s", cfg.engine.DataDir, keys["ReadWritePaths"][0])
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not found (Debian's systemd, in .ci/run's APT_PACKAGES)")
		}
		t.Skip("systemd-analyze not found: the unit's syntax is not checked")
	}
	// verify checks that ExecStart's program exists: point it at one.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "silt.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(raw, "/usr/local/bin/silt", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify deploy/silt.service: %v\n%s", err, out)
	}
}

// dockerfile is the parsed Dockerfile: its instructions with continuation
// lines joined.
func dockerfile(t *testing.T) [][2]string {
	t.Helper()
	var out [][2]string
	var cur string
	sc := bufio.NewScanner(strings.NewReader(string(readRepoFile(t, "Dockerfile"))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		op, rest, _ := strings.Cut(cur, " ")
		out = append(out, [2]string{strings.ToUpper(op), strings.TrimSpace(rest)})
		cur = ""
	}
	return out
}

// makeDryRun is the command make would run for target, with the version
// and revision given.
func makeDryRun(t *testing.T, target string, vars ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not found")
	}
	cmd := exec.Command("make", append([]string{"-n", "-s", target}, vars...)...)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n %s: %v", target, err)
	}
	return strings.TrimSpace(string(out))
}

// The image builds its binary with the Makefile's build-static target, and
// that target builds what make build does (same package, same version
// stamps) as a static binary; the image runs it non-root with a health
// check on /ready, a data volume and flags that exist.
func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	get := func(op string) []string {
		var v []string
		for _, in := range ins {
			if in[0] == op {
				v = append(v, in[1])
			}
		}
		return v
	}
	from := get("FROM")
	gomod := string(readRepoFile(t, "go.mod"))
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if len(from) != 2 || !strings.HasPrefix(from[0], "golang:"+goVer[1]+"-") || !strings.HasPrefix(from[1], "gcr.io/distroless/static") {
		t.Errorf("FROM %q: want golang:%s-* as builder and a distroless static base", from, goVer[1])
	}
	var build string
	for _, r := range get("RUN") {
		if strings.Contains(r, "make ") {
			build = r
		}
	}
	if !strings.Contains(build, "make build-static ") || !strings.Contains(build, `VERSION="$VERSION"`) || !strings.Contains(build, `REVISION="$REVISION"`) {
		t.Errorf("the image's build %q does not run make build-static with VERSION and REVISION", build)
	}
	plain := makeDryRun(t, "build", "VERSION=v9.9.9", "REVISION=abc123", "BIN=out")
	static := makeDryRun(t, "build-static", "VERSION=v9.9.9", "REVISION=abc123", "BIN=out")
	for _, want := range []string{"-X main.version=v9.9.9", "-X main.revision=abc123", "-o out ./cmd/silt"} {
		if !strings.Contains(plain, want) || !strings.Contains(static, want) {
			t.Errorf("make build (%s) and make build-static (%s) do not both have %q", plain, static, want)
		}
	}
	if !strings.Contains(static, "-extldflags -static") {
		t.Errorf("make build-static is not static: %s", static)
	}
	if u := get("USER"); len(u) != 1 || strings.HasPrefix(u[0], "0") || strings.HasPrefix(u[0], "root") {
		t.Errorf("USER %q: the image must run non-root", u)
	}
	if v := get("VOLUME"); len(v) != 1 || v[0] != "/var/lib/silt" {
		t.Errorf("VOLUME %q", v)
	}
	hc := get("HEALTHCHECK")
	if len(hc) != 1 || !strings.Contains(hc[0], `"ready"`) || !strings.Contains(hc[0], "127.0.0.1:8086/ready") {
		t.Errorf("HEALTHCHECK %q: want silt ready on /ready", hc)
	}
	var entry, cmd []string
	if e := get("ENTRYPOINT"); len(e) == 1 {
		_ = json.Unmarshal([]byte(e[0]), &entry)
	}
	if c := get("CMD"); len(c) == 1 {
		_ = json.Unmarshal([]byte(c[0]), &cmd)
	}
	if len(entry) != 1 || entry[0] != "/usr/local/bin/silt" || len(cmd) < 1 || cmd[0] != "serve" {
		t.Fatalf("ENTRYPOINT %q CMD %q", entry, cmd)
	}
	cfg := parseServeArgs(t, "CMD", cmd[1:])
	if cfg.engine.DataDir != "/var/lib/silt" || cfg.server.Addr != "0.0.0.0:8086" || cfg.pg.Addr != "0.0.0.0:5432" {
		t.Errorf("CMD serves %s on %s and %s", cfg.engine.DataDir, cfg.server.Addr, cfg.pg.Addr)
	}
	if e := get("EXPOSE"); len(e) != 1 || e[0] != "8086 5432" {
		t.Errorf("EXPOSE %q", e)
	}
}

// make build-static makes a static binary that reports the version and
// revision it was given: the image's binary, built here as the Dockerfile
// builds it. It is a second full build of the binary (other build tags,
// the external linker): minutes on a CI machine, so it runs only with
// SILT_TEST_BUILD_STATIC=1; TestDockerfile checks the commands always.
func TestBuildStatic(t *testing.T) {
	skipShort(t)
	if os.Getenv("SILT_TEST_BUILD_STATIC") != "1" {
		t.Skip("a second full build of the binary: set SILT_TEST_BUILD_STATIC=1 to run it")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not found")
	}
	bin := filepath.Join(t.TempDir(), "silt")
	cmd := exec.Command("make", "build-static", "BIN="+bin, "VERSION=v0.0.0-test", "REVISION=0123abcd")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-static: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("make build-static made a dynamically linked binary (it has an ELF interpreter)")
		}
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(out), "silt v0.0.0-test\nrevision: 0123abcd\n") {
		t.Fatalf("silt version: %v\n%s", err, out)
	}
}

// compose is the part of deploy/compose.yaml the test reads.
type compose struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]any    `yaml:"depends_on"`
	} `yaml:"services"`
}

// The compose file builds the Dockerfile, runs silt serve with flags that
// exist, publishes the ports Silt listens on, gives Silt MinIO's address
// and keys, and mounts Grafana's provisioning files, which point at Silt's
// ports; the dashboard's queries run on a real Silt holding TSBS cpu rows.
func TestComposeAndGrafana(t *testing.T) {
	var c compose
	if err := yaml.Unmarshal(readRepoFile(t, "deploy/compose.yaml"), &c); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	silt, minio, grafana := c.Services["silt"], c.Services["minio"], c.Services["grafana"]
	if silt.Build == nil || filepath.Join("deploy", silt.Build.Context, silt.Build.Dockerfile) != "Dockerfile" {
		t.Fatalf("silt does not build the repository's Dockerfile: %+v", silt.Build)
	}
	if len(silt.Command) == 0 || silt.Command[0] != "serve" {
		t.Fatalf("silt command %q", silt.Command)
	}
	cfg := parseServeArgs(t, "compose silt command", silt.Command[1:])
	published := func(ports []string, port string) bool {
		return slices.ContainsFunc(ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) })
	}
	_, httpPort, _ := net.SplitHostPort(cfg.server.Addr)
	_, pgPort, _ := net.SplitHostPort(cfg.pg.Addr)
	if !published(silt.Ports, httpPort) || !published(silt.Ports, pgPort) || httpPort != "8086" || pgPort != "5432" {
		t.Errorf("silt listens on %s and %s, publishes %q", cfg.server.Addr, cfg.pg.Addr, silt.Ports)
	}
	minioAddr := minio.Command[slices.Index(minio.Command, "--address")+1]
	if cfg.tiering.S3.Endpoint != "minio"+minioAddr || cfg.tiering.S3.Bucket == "" || !cfg.tiering.CreateBucket {
		t.Errorf("silt's --s3.endpoint %q (bucket %q) is not MinIO's address %q", cfg.tiering.S3.Endpoint, cfg.tiering.S3.Bucket, minioAddr)
	}
	if silt.Environment["AWS_ACCESS_KEY_ID"] != minio.Environment["MINIO_ROOT_USER"] ||
		silt.Environment["AWS_SECRET_ACCESS_KEY"] != minio.Environment["MINIO_ROOT_PASSWORD"] {
		t.Error("silt's S3 keys are not MinIO's")
	}
	for _, v := range grafana.Volumes {
		src, _, _ := strings.Cut(v, ":")
		if _, err := os.Stat(filepath.Join(repoRoot, "deploy", src)); err != nil {
			t.Errorf("grafana mounts %s: %v", src, err)
		}
	}
	if _, ok := grafana.DependsOn["silt"]; !ok {
		t.Error("grafana does not wait for silt")
	}
	telegraf := string(readRepoFile(t, "deploy/telegraf.conf"))
	if !strings.Contains(telegraf, `urls = ["http://silt:`+httpPort+`"]`) || !strings.Contains(telegraf, `database = "benchmark"`) {
		t.Error("deploy/telegraf.conf does not write to silt's HTTP port, database benchmark")
	}

	// Data sources: Silt's HTTP port for InfluxQL, its PostgreSQL port for SQL.
	var ds struct {
		Datasources []struct {
			UID      string         `yaml:"uid"`
			Type     string         `yaml:"type"`
			URL      string         `yaml:"url"`
			JSONData map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy/grafana/provisioning/datasources/silt.yaml"), &ds); err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{} // uid -> type
	for _, d := range ds.Datasources {
		uids[d.UID] = d.Type
		switch d.Type {
		case "influxdb":
			if d.URL != "http://silt:"+httpPort || d.JSONData["dbName"] != "benchmark" {
				t.Errorf("InfluxQL data source %s: url %s db %v", d.UID, d.URL, d.JSONData["dbName"])
			}
		case "grafana-postgresql-datasource":
			if d.URL != "silt:"+pgPort || d.JSONData["database"] != "benchmark" || d.JSONData["sslmode"] != "disable" {
				t.Errorf("PostgreSQL data source %s: url %s %v", d.UID, d.URL, d.JSONData)
			}
		default:
			t.Errorf("data source %s of type %s", d.UID, d.Type)
		}
	}
	if len(uids) != 2 {
		t.Fatalf("data sources: %v", uids)
	}
	var prov struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy/grafana/provisioning/dashboards/silt.yaml"), &prov); err != nil {
		t.Fatal(err)
	}
	if len(prov.Providers) != 1 || !slices.Contains(grafana.Volumes, "./grafana/dashboards:"+prov.Providers[0].Options.Path+":ro") {
		t.Errorf("the dashboard provider reads %+v, grafana mounts %q", prov.Providers, grafana.Volumes)
	}

	// The dashboard: every panel on a provisioned data source, its queries
	// answered by a real Silt with TSBS cpu rows of the last minutes.
	var dash struct {
		Panels []struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Query  string `json:"query"`
				RawSQL string `json:"rawSql"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readRepoFile(t, "deploy/grafana/dashboards/tsbs-cpu.json"), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	base := startSilt(t)
	now := time.Now()
	var lp strings.Builder
	for i := range 30 {
		ts := now.Add(-time.Duration(i) * 10 * time.Second).UnixNano()
		for h := range 3 {
			fmt.Fprintf(&lp, "cpu,hostname=host_%d,region=eu-west-1,datacenter=eu-west-1a,rack=%d,os=Ubuntu16.04LTS,arch=x64,team=SF,service=%d,service_version=0,service_environment=test "+
				"usage_user=%d,usage_system=%d,usage_idle=%d,usage_nice=1,usage_iowait=2,usage_irq=0,usage_softirq=0,usage_steal=3,usage_guest=0,usage_guest_nice=0 %d\n",
				h, h, h, 10+i+h, 5+h, 80-i, ts)
		}
	}
	resp, err := http.Post(base+"/write?db=benchmark", "text/plain", strings.NewReader(lp.String()))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %d", resp.StatusCode)
	}
	from, to := now.Add(-15*time.Minute), now.Add(time.Minute)
	influxFilter := fmt.Sprintf("time >= %dms and time <= %dms", from.UnixMilli(), to.UnixMilli())
	sqlFilter := fmt.Sprintf("time BETWEEN '%s' AND '%s'", from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
	queries := 0
	for _, p := range dash.Panels {
		typ, ok := uids[p.Datasource.UID]
		if !ok {
			t.Errorf("panel %q uses data source %q, which is not provisioned", p.Title, p.Datasource.UID)
			continue
		}
		for _, tg := range p.Targets {
			queries++
			var u string
			switch typ {
			case "influxdb":
				q := strings.NewReplacer("$timeFilter", influxFilter, "$__interval", "10s").Replace(tg.Query)
				u = base + "/query?db=benchmark&epoch=ms&q=" + url.QueryEscape(q)
			default:
				q := strings.ReplaceAll(tg.RawSQL, "$__timeFilter(time)", sqlFilter)
				u = base + "/api/v1/sql?db=benchmark&q=" + url.QueryEscape(q)
			}
			if strings.Contains(u, "%24") { // an unexpanded $macro
				t.Errorf("panel %q: a Grafana macro this test does not expand: %s", p.Title, tg.Query+tg.RawSQL)
				continue
			}
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != 200 || strings.Contains(string(body), `"error"`) || !strings.Contains(string(body), "host_") && !strings.Contains(string(body), `"values"`) {
				t.Errorf("panel %q: %d %s", p.Title, resp.StatusCode, body)
			}
		}
	}
	if queries < 5 {
		t.Errorf("the dashboard has %d queries", queries)
	}

}

// silt ready, the image's health check, exits 0 against a ready server and
// 1 when nothing answers.
func TestReadyCommand(t *testing.T) {
	base := startSilt(t)
	if code := runReady([]string{"--url", base + "/ready"}); code != 0 {
		t.Fatalf("silt ready against a ready server: exit %d", code)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/ready"
	_ = ln.Close()
	if code := runReady([]string{"--url", closed}); code != 1 {
		t.Fatalf("silt ready with nothing listening: exit %d, want 1", code)
	}
}
