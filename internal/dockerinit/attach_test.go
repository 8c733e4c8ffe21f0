package dockerinit

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// script is a zone's metadata whose docker:wait_for_attach takes the
// values of its list at each read (the last one staying); "" is not
// set.
type script struct {
	values []string
	reads  int
	ops    []string
	fail   error
}

func (s *script) get(key string) (string, bool, error) {
	if s.fail != nil {
		return "", false, s.fail
	}
	if key != attachKey {
		return "", false, fmt.Errorf("read %s", key)
	}
	v := s.values[min(s.reads, len(s.values)-1)]
	s.reads++
	return v, v != "", nil
}

func (s *script) put(key, value string) error {
	s.ops = append(s.ops, "put "+key+"="+value)
	return nil
}

func (s *script) del(key string) error {
	s.ops = append(s.ops, "del "+key)
	return nil
}

func TestWaitForAttach(t *testing.T) {
	start := time.UnixMilli(1_000_000)
	for _, c := range []struct {
		name   string
		md     *script
		status int
		err    string
		ops    []string
		sleeps int
	}{
		{"not set", &script{values: []string{""}}, 0, "", nil, 0},
		{"attached", &script{values: []string{"1005000", "1005000", ""}}, 0, "", []string{"put __dockerinit_waiting_for_attach=1005000", "del __dockerinit_waiting_for_attach"}, 2},
		{"timed out", &script{values: []string{"1000500"}}, exitAttachTimedOut, "Timed out waiting for attach", []string{"put __dockerinit_waiting_for_attach=1000500"}, 3},
		{"not a time", &script{values: []string{"soon"}}, exitAttachNotTime, "Invalid value for 'docker:wait_for_attach'", nil, 0},
		{"not positive", &script{values: []string{"0"}}, exitAttachNotTime, "Invalid value for 'docker:wait_for_attach'", nil, 0},
		{"metadata fails", &script{fail: errors.New("gone")}, exitMdataFail, "metadata: gone", nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			now, sleeps := start, 0
			status, err := waitForAttach(c.md, func() time.Time { return now }, func(d time.Duration) { now = now.Add(d); sleeps++ })
			got := ""
			if err != nil {
				got = err.Error()
			}
			if status != c.status || got != c.err || sleeps != c.sleeps || !slices.Equal(c.md.ops, c.ops) {
				t.Errorf("status %d, error %q, %d sleeps, ops %q; want %d, %q, %d, %q", status, got, sleeps, c.md.ops, c.status, c.err, c.sleeps, c.ops)
			}
		})
	}
}
