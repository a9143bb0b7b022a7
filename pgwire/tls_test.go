package pgwire

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/siltdb/silt/server"
)

// selfSigned writes a certificate for 127.0.0.1 and its key under dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "silt-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLS: with a key pair configured, clients that ask for TLS get it
// (pgx with sslmode=require and verify-full against the certificate,
// psql with sslmode=require); a plain client is still served.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	e := startEnvPG(t, server.Config{Tokens: []server.Token{{Name: "r", Secret: "tls-secret", Read: true, Write: true}}},
		Config{TLSCertFile: cert, TLSKeyFile: key}, nil)
	e.write(t, cpuLines(2, 5), "tls-secret")
	want := e.sqlAPI(t, "SELECT count(*) FROM cpu", "tls-secret").Rows[0][0]
	ctx := context.Background()
	for _, mode := range []string{"require", "verify-full sslrootcert=" + cert, "disable"} {
		dsn := strings.Replace(e.dsn("tls-secret"), "sslmode=disable", "sslmode="+mode, 1)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("sslmode=%s: %v", mode, err)
		}
		_, isTLS := conn.PgConn().Conn().(*tls.Conn)
		if isTLS != (mode != "disable") {
			t.Errorf("sslmode=%s: TLS %v", mode, isTLS)
		}
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM cpu").Scan(&n); err != nil || n != want {
			t.Errorf("sslmode=%s: count %d %v, /api/v1/sql %v", mode, n, err, want)
		}
		conn.Close(ctx)
	}
	if testing.Short() {
		return
	}
	bin := needClient(t, "psql", "--version")
	host, port, _ := net.SplitHostPort(e.pg)
	cmd := exec.Command(bin, "-X", "-h", host, "-p", port, "-U", "x", "-d", testDB, "-A", "-t",
		"-c", `\conninfo`, "-c", "SELECT count(*) FROM cpu")
	cmd.Env = append(os.Environ(), "PGSSLMODE=require", "PGPASSWORD=tls-secret", "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SSL connection") || !strings.HasSuffix(strings.TrimSpace(string(out)), fmt.Sprint(want)) {
		t.Errorf("psql sslmode=require: %v\n%s", err, out)
	}
}
