package dockerlog

import (
	"net"
	"sync"
	"time"
)

// sender delivers a driver's packets in order from a goroutine of its
// own, so that the zone's program never waits for the log server: past
// queueLen messages waiting, a message is dropped, as is one the server
// cannot be reached for. A stream connection (tcp) is made at the first
// message and made again after a failure, at most once per retryWait.
type sender struct {
	proto, addr string
	q           chan [][]byte // a message: its datagrams, or its bytes on a stream
	done        chan struct{}
	conn        net.Conn
	failedAt    time.Time
	closeOnce   sync.Once
}

const (
	queueLen    = 1024
	retryWait   = time.Second
	dialTimeout = 5 * time.Second
	// closeWait bounds how long Close waits for what is queued.
	closeWait = 2 * time.Second
)

func newSender(proto, addr string) *sender {
	s := &sender{proto: proto, addr: addr, q: make(chan [][]byte, queueLen), done: make(chan struct{})}
	go s.run()
	return s
}

// send queues one message's packets.
func (s *sender) send(pkts [][]byte) {
	select {
	case s.q <- pkts:
	default: // the server is behind: drop
	}
}

func (s *sender) run() {
	defer close(s.done)
	for pkts := range s.q {
		for _, p := range pkts {
			if !s.write(p) {
				break
			}
		}
	}
	if s.conn != nil {
		s.conn.Close()
	}
}

// write sends p, connecting (again) first where needed; false when it
// could not.
func (s *sender) write(p []byte) bool {
	for attempt := 0; attempt < 2; attempt++ {
		if s.conn == nil {
			if time.Since(s.failedAt) < retryWait {
				return false
			}
			c, err := net.DialTimeout(s.proto, s.addr, dialTimeout)
			if err != nil {
				s.failedAt = time.Now()
				return false
			}
			s.conn = c
		}
		s.conn.SetWriteDeadline(time.Now().Add(dialTimeout))
		if _, err := s.conn.Write(p); err == nil {
			return true
		}
		s.conn.Close()
		s.conn = nil
	}
	return false
}

// Close sends what is queued, waiting at most closeWait.
func (s *sender) Close() error {
	s.closeOnce.Do(func() { close(s.q) })
	select {
	case <-s.done:
	case <-time.After(closeWait):
	}
	return nil
}
