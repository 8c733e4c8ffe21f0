package dump

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestConsistent(t *testing.T) {
	other := errors.New("other")
	for _, tc := range []struct {
		name        string
		interrupted int // dumps interrupted before a whole one
		final       error
		wantCalls   int
		wantErr     error
	}{
		{"whole at once", 0, nil, 1, nil},
		{"whole on the third", 2, nil, 3, nil},
		{"another error is not retried", 0, other, 1, other},
		{"always interrupted", 100, nil, tries, netlink.ErrDumpInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			v, err := Consistent(func() (int, error) {
				calls++
				if calls <= tc.interrupted {
					return -1, fmt.Errorf("dump: %w", netlink.ErrDumpInterrupted)
				}
				return calls, tc.final
			})
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("calls %d err %v, want %d %v", calls, err, tc.wantCalls, tc.wantErr)
			}
			if err == nil && v != calls {
				t.Fatalf("value %d from call %d", v, calls)
			}
		})
	}
}
