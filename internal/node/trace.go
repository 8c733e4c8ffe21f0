package node

import (
	"fmt"
	"os"
	"time"
)

// tracing is on when HULL_TRACE=1: each step of an operation prints how
// long it took, to find where time goes without a profiler.
var tracing = os.Getenv("HULL_TRACE") == "1"

// stepTimer reports the time since its last mark.
type stepTimer struct {
	op   string
	last time.Time
}

func startSteps(op string) *stepTimer {
	if !tracing {
		return nil
	}
	return &stepTimer{op: op, last: time.Now()}
}

func (s *stepTimer) mark(step string) {
	if s == nil {
		return
	}
	now := time.Now()
	fmt.Fprintf(os.Stderr, "trace: %s %-16s %6.2fms\n", s.op, step, float64(now.Sub(s.last).Microseconds())/1000)
	s.last = now
}
