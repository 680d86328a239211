package serving

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkPredictHandler serves one 4-feature row per request through the
// handler (no network), with the model in a worker process and in this
// one: the server's own cost per request, and what isolation adds.
func BenchmarkPredictHandler(b *testing.B) {
	for _, iso := range []Isolation{IsolationProcess, IsolationNone} {
		b.Run(string(iso), func(b *testing.B) { benchPredict(b, iso) })
	}
}

func benchPredict(b *testing.B, iso Isolation) {
	base := filepath.Join(b.TempDir(), "clf")
	export(b, base, 1, 1)
	srv, err := New(Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, Poll: -1, Isolation: iso,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	var sb strings.Builder
	sb.WriteString(`{"instances": [[`)
	for i := 0; i < 4; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%g", float32(i)/7)
	}
	sb.WriteString(`]]}`)
	body := []byte(sb.String())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/v1/models/clf:predict", bytes.NewReader(body))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
