package svcs

import (
	"bytes"
	"testing"
	"time"

	"hull/internal/smf/control"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func statuses() []*control.Status {
	return []*control.Status{
		{FMRI: "svc:/site/db:default", State: "maintenance", NextState: "none", STime: now.Add(-time.Hour), Enabled: true,
			Aux: "fault_threshold_reached", Reason: "Start method failed repeatedly, last exited with status 1.",
			Log: "/var/svc/log/site-db:default.log", Name: "Database"},
		{FMRI: "svc:/site/app:default", State: "offline", NextState: "none", STime: now.Add(-time.Hour), Enabled: true,
			Deps: []control.Dep{{Name: "db", Grouping: "require_all", RestartOn: "error", Type: "service", FMRIs: []string{"svc:/site/db"}, States: []string{"maintenance"}}}},
		{FMRI: "svc:/site/web:default", State: "online", NextState: "offline", STime: now.Add(-48 * time.Hour), Enabled: true, Contract: 12, Pids: []int{}},
		{FMRI: "svc:/site/off:default", State: "disabled", NextState: "none", STime: now.Add(-time.Minute)},
		{FMRI: "lrc:/etc/rc_d/S10x", State: "legacy_run", NextState: "none", STime: now.Add(-2 * time.Hour)},
	}
}

func run(args ...string) (string, int) {
	var out bytes.Buffer
	code := Main(args, Env{Stdout: &out, Stderr: &out, Now: func() time.Time { return now },
		Call: func(*control.Request) (*control.Response, error) {
			return &control.Response{Instances: statuses()}, nil
		}})
	return out.String(), code
}

func TestOutput(t *testing.T) {
	tests := []struct {
		args []string
		want string
		code int
	}{
		{nil, `STATE          STIME    FMRI
legacy_run     10:00:00 lrc:/etc/rc_d/S10x
offline        11:00:00 svc:/site/app:default
online*        Mar_08   svc:/site/web:default
maintenance    11:00:00 svc:/site/db:default
`, 0},
		{[]string{"-H", "-o", "sta,nsta,ctid,svc,inst", "web", "off"}, `DIS  -         - svc:/site/off  default
ON*  OFF      12 svc:/site/web  default
`, 0},
		{[]string{"-a", "-H", "-S", "fmri", "-o", "fmri"}, "svc:/site/web:default\nsvc:/site/off:default\nsvc:/site/db:default\nsvc:/site/app:default\nlrc:/etc/rc_d/S10x\n", 0},
		{[]string{"-d", "-H", "app"}, "maintenance    11:00:00 svc:/site/db:default\n", 0},
		{[]string{"-D", "-H", "db"}, "offline        11:00:00 svc:/site/app:default\n", 0},
		{[]string{"nosuch"}, "svcs: Pattern 'nosuch' doesn't match any instances\nSTATE          STIME    FMRI\n", 1},
		{[]string{"-x"}, `svc:/site/db:default (Database)
 State: maintenance since Tue Mar 10 11:00:00 2026
Reason: Start method failed repeatedly, last exited with status 1.
   See: http://illumos.org/msg/SMF-8000-KS
   See: /var/svc/log/site-db:default.log
Impact: 1 dependent service is not running.  (Use -v for list.)

svc:/site/app:default (-)
 State: offline since Tue Mar 10 11:00:00 2026
Reason: Service svc:/site/db
        is not running because a method failed repeatedly.
   See: http://illumos.org/msg/SMF-8000-GE
Impact: This service is not running.

`, 0},
		{[]string{"-l", "app"}, `fmri         svc:/site/app:default
enabled      true
state        offline
next_state   none
state_time   Tue Mar 10 11:00:00 2026
dependency   require_all/error svc:/site/db (maintenance)
`, 0},
		{[]string{"-q"}, "svcs: illegal option -- q\n" + usage, 2},
		{[]string{"-o", "bogus"}, "svcs: Unrecognized column \"BOGUS\".\n", 2},
	}
	for _, tt := range tests {
		got, code := run(tt.args...)
		if got != tt.want || code != tt.code {
			t.Errorf("svcs %v = %d\n%s\nwant %d\n%s", tt.args, code, got, tt.code, tt.want)
		}
	}
}
