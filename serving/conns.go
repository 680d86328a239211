package serving

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimit bounds a REST listener's open connections, as
// netutil.LimitListener does, except that idle keep-alive connections
// give way: when every slot is taken and a new client arrives, the
// connection idle longest is closed to make room. Without it, clients
// that opened many keep-alives and went quiet (384 under a 1,024-fd limit)
// locked new clients out until the idle timeout.
type connLimit struct {
	net.Listener
	slots chan struct{}

	mu   sync.Mutex
	idle map[net.Conn]time.Time // keep-alive connections between requests
}

func newConnLimit(ln net.Listener, n int) *connLimit {
	return &connLimit{Listener: ln, slots: make(chan struct{}, n), idle: map[net.Conn]time.Time{}}
}

// Accept takes a slot for the new connection; with none free, it closes
// the connection idle longest and waits for its slot.
func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		l.reclaim()
		l.slots <- struct{}{}
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// reclaim closes the connection that has been idle longest, if any.
func (l *connLimit) reclaim() {
	l.mu.Lock()
	var oldest net.Conn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
}

// track is the http.Server's ConnState hook: it keeps the set of idle
// connections up to date.
func (l *connLimit) track(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateIdle {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
}

// limitedConn gives its slot back once, when it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
