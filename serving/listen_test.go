package serving

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/savedmodels"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gotf test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(parsed)
	return cert, key, pool
}

// serve runs s.Serve on free loopback ports and returns their addresses
// and Serve's result.
func serve(t *testing.T, s *Server, ctx context.Context, lc ListenConfig) (rest, grpcAddr string, result chan error) {
	t.Helper()
	lc.RESTAddr, lc.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	ready := make(chan [2]string, 1)
	lc.Ready = func(r, g net.Addr) { ready <- [2]string{r.String(), g.String()} }
	result = make(chan error, 1)
	go func() { result <- s.Serve(ctx, lc) }()
	select {
	case a := <-ready:
		return a[0], a[1], result
	case err := <-result:
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not start")
	}
	return "", "", nil
}

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Poll = -1
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestServeTLS: with a certificate, REST is HTTPS and gRPC is TLS, and a
// client that trusts the certificate gets answers over both.
func TestServeTLS(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 2)
	cert, key, pool := selfSigned(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rest, gaddr, result := serve(t, newServer(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}}), ctx,
		ListenConfig{TLSCertFile: cert, TLSKeyFile: key})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	resp, err := client.Post("https://"+rest+"/v1/models/clf:predict", "application/json", strings.NewReader(`{"instances": [[1,2,3,4]]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "predictions") {
		t.Fatalf("HTTPS predict: %d %s", resp.StatusCode, body)
	}
	if r, err := http.Get("http://" + rest + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Fatal("the REST port answered plain HTTP")
		}
	}
	conn, err := grpc.NewClient(gaddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC over TLS: %v %v", hc.GetStatus(), err)
	}
	cancel()
	if err := <-result; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

// TestServeShutdownDeadline: a request still running when the graceful
// stop's deadline passes makes Serve return ErrShutdownTimeout (cmd/serve
// then exits 1) instead of waiting for it.
func TestServeShutdownDeadline(t *testing.T) {
	gen := t.TempDir()
	if err := pyref.Script("make_hostile_models.py", gen); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Config{Models: []ModelConfig{{Name: "runaway", BasePath: filepath.Join(gen, "runaway")}},
		Timeout: 3 * time.Second, Isolation: IsolationNone, LoadTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rest, _, result := serve(t, s, ctx, ListenConfig{ShutdownTimeout: 300 * time.Millisecond})
	go http.Post("http://"+rest+"/v1/models/runaway:predict", "application/json", strings.NewReader(`{"inputs": 1}`))
	for len(s.slots) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, ErrShutdownTimeout) || time.Since(start) > 5*time.Second {
			t.Fatalf("Serve returned %v after %v, want ErrShutdownTimeout after about 300 ms", err, time.Since(start))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after its shutdown deadline")
	}
}

// TestCheckInputs: inputs that all have a batch dimension must agree on it.
func TestCheckInputs(t *testing.T) {
	sig := &savedmodels.Signature{Key: "k", Inputs: []savedmodels.TensorInfo{
		{Name: "a", DType: 1, Shape: []int64{-1, 2}}, {Name: "b", DType: 1, Shape: []int64{-1}}}}
	f32 := func(dims ...int64) Tensor {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		return Tensor{DType: 1, Shape: dims, Data: make([]byte, 4*n)}
	}
	if err := checkInputs(sig, map[string]Tensor{"a": f32(3, 2), "b": f32(3)}); err != nil {
		t.Fatalf("same batch: %v", err)
	}
	err := checkInputs(sig, map[string]Tensor{"a": f32(3, 2), "b": f32(4)})
	if !errors.Is(err, savedmodels.ErrBadInput) || codeOf(err) != 400 || !strings.Contains(err.Error(), "batch sizes 3 and 4") {
		t.Fatalf("different batches: %v (code %d), want a 400 naming both", err, codeOf(err))
	}
	// Without a batch dimension on every input, sizes are the model's business.
	sig.Inputs[1].Shape = []int64{-1, -1}
	sig.Inputs[0].Shape = []int64{2}
	if err := checkInputs(sig, map[string]Tensor{"a": f32(2), "b": f32(4, 1)}); err != nil {
		t.Fatalf("no shared batch axis: %v", err)
	}
}

// Idle keep-alive connections give way to a new client when every
// connection slot is taken (issue 23: 384 idle keep-alives under a
// 1,024-fd limit locked new clients out until the 60 s idle timeout).
func TestIdleConnectionsGiveWay(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 1)
	s := newServer(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rest, _, _ := serve(t, s, ctx, ListenConfig{MaxConnections: 4, IdleTimeout: time.Minute})
	url := "http://" + rest + "/v1/models/clf"
	// Four clients, each keeping its connection open and idle.
	for i := range 4 {
		tr := &http.Transport{MaxIdleConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(url)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	time.Sleep(100 * time.Millisecond) // the server marks them idle
	start := time.Now()
	c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("a fifth client with four idle connections open: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) > 5*time.Second {
		t.Fatalf("a fifth client got %d after %v", resp.StatusCode, time.Since(start))
	}
}
