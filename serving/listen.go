package serving

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// ListenConfig says where and how Serve listens. The zero value of each
// duration or count means the default given beside it.
type ListenConfig struct {
	// RESTAddr and GRPCAddr are host:port to listen on; "" turns that
	// transport off. A host of "" or 0.0.0.0 means every interface (as
	// TF Serving); behind a proxy on the same machine bind 127.0.0.1.
	RESTAddr string
	GRPCAddr string
	// TLSCertFile and TLSKeyFile, when both set, serve REST as HTTPS and
	// gRPC over TLS.
	TLSCertFile string
	TLSKeyFile  string
	// ReadTimeout bounds reading a whole request, body included (0: 30 s);
	// a client that sends slower is cut off.
	ReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long (0: 60 s),
	// REST and gRPC alike.
	IdleTimeout time.Duration
	// WriteTimeout drops an answer the client stops reading (0: 30 s): a
	// gRPC connection that owes answer bytes and writes none for this long
	// is closed; a REST answer must be written within the read timeout,
	// the request timeout and this.
	WriteTimeout time.Duration
	// MaxConnections bounds open connections per transport (0: half the
	// file descriptors the process may open, less a reserve).
	MaxConnections int
	// ShutdownTimeout bounds the graceful stop once ctx ends (0: the
	// request timeout plus 5 s); past it Serve returns ErrShutdownTimeout.
	ShutdownTimeout time.Duration
	// Ready, if set, is called with the bound addresses once listening.
	Ready func(rest, grpc net.Addr)
}

// ErrShutdownTimeout: requests were still running when the graceful stop's
// deadline passed; they were cut off.
var ErrShutdownTimeout = errors.New("serving: shutdown deadline passed with requests in flight")

// Serve listens on the configured addresses and serves until ctx ends,
// then stops gracefully within ShutdownTimeout and closes s.
func (s *Server) Serve(ctx context.Context, lc ListenConfig) error {
	lc.defaults(s.cfg.Timeout)
	var tlsCfg *tls.Config
	if lc.TLSCertFile != "" || lc.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(lc.TLSCertFile, lc.TLSKeyFile)
		if err != nil {
			s.Close()
			return fmt.Errorf("serving: TLS: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	listen := func(addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return netutil.LimitListener(ln, lc.MaxConnections), nil
	}
	errc := make(chan error, 2)
	var hs *http.Server
	var gs *grpc.Server
	var restAddr, grpcAddr net.Addr
	if lc.RESTAddr != "" {
		raw, err := net.Listen("tcp", lc.RESTAddr)
		if err != nil {
			s.Close()
			return err
		}
		ln := newConnLimit(raw, lc.MaxConnections) // idle keep-alives give way to new clients
		restAddr = ln.Addr()
		hs = &http.Server{Handler: s, ReadHeaderTimeout: min(10*time.Second, lc.ReadTimeout), ReadTimeout: lc.ReadTimeout,
			WriteTimeout: lc.ReadTimeout + s.cfg.Timeout + lc.WriteTimeout, IdleTimeout: lc.IdleTimeout,
			ConnState: ln.track, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		if tlsCfg != nil {
			hs.TLSConfig = tlsCfg
			go func() { errc <- hs.ServeTLS(ln, "", "") }()
		} else {
			go func() { errc <- hs.Serve(ln) }()
		}
		s.log.Info("serving REST", "addr", restAddr.String(), "tls", tlsCfg != nil)
	}
	if lc.GRPCAddr != "" {
		ln, err := listen(lc.GRPCAddr)
		if err != nil {
			if hs != nil {
				hs.Close()
			}
			s.Close()
			return err
		}
		grpcAddr = ln.Addr()
		// The ledger charges request bytes and answers to the shared
		// memory from the HTTP/2 frames, so it sits above TLS: the server
		// does TLS itself (with ALPN h2, as gRPC needs) and gRPC sees a
		// plain connection.
		ledger := s.answerLedger(lc.WriteTimeout)
		if tlsCfg != nil {
			h2 := tlsCfg.Clone()
			h2.NextProtos = []string{"h2"}
			ln = tls.NewListener(ln, h2)
		}
		ln = ledger.listen(ln)
		opts := []grpc.ServerOption{
			grpc.ConnectionTimeout(min(10*time.Second, lc.ReadTimeout)),
			grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: lc.IdleTimeout}),
			// Streams whose messages trickle in hold their buffers: bound
			// them per connection, as connections are bounded.
			grpc.MaxConcurrentStreams(64),
		}
		opts = append(opts, messageDeadline(lc.ReadTimeout)...)
		opts = append(opts, ledger.options()...)
		gs = s.NewGRPCServer(opts...)
		go func() { errc <- gs.Serve(ln) }()
		s.log.Info("serving gRPC", "addr", grpcAddr.String(), "tls", tlsCfg != nil)
	}
	if lc.Ready != nil {
		lc.Ready(restAddr, grpcAddr)
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case serveErr = <-s.startErr: // LoadInBackground: the configuration failed
		s.log.Error("the model configuration could not be applied", "err", serveErr)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing requests in flight", "deadline", lc.ShutdownTimeout.String())
	s.beginShutdown()
	sctx, cancel := context.WithTimeout(context.Background(), lc.ShutdownTimeout)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		if hs != nil {
			hs.Shutdown(sctx)
		}
		if gs != nil {
			gs.GracefulStop()
		}
		s.Close()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-sctx.Done():
		if hs != nil {
			hs.Close()
		}
		if gs != nil {
			gs.Stop()
		}
		return ErrShutdownTimeout
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	s.log.Info("stopped")
	return nil
}

func (lc *ListenConfig) defaults(requestTimeout time.Duration) {
	setDefault(&lc.ReadTimeout, 30*time.Second)
	setDefault(&lc.IdleTimeout, 60*time.Second)
	setDefault(&lc.WriteTimeout, 30*time.Second)
	setDefault(&lc.ShutdownTimeout, requestTimeout+5*time.Second)
	if lc.MaxConnections <= 0 {
		lc.MaxConnections = 1024
		var lim syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur > 512 {
			lc.MaxConnections = int(min(lim.Cur-256, 1<<20) / 2)
		}
	}
}
