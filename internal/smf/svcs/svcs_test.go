package svcs

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"hull/internal/smf/control"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func dep(grouping, restartOn string, fmris []string, states ...string) control.Dep {
	return control.Dep{Name: "d", Grouping: grouping, RestartOn: restartOn, Type: "service", FMRIs: fmris, States: states}
}

// statuses is a small world: db in maintenance holds app back (and
// through it, front); web restarts; cfg waits for a file; off is
// disabled and nothing needs it.
func statuses() []*control.Status {
	return []*control.Status{
		{FMRI: "svc:/site/db:default", State: "maintenance", NextState: "none", STime: now.Add(-time.Hour), Enabled: true,
			Aux: "fault_threshold_reached", Reason: "Start method failed repeatedly, last exited with status 1.",
			Log: "/var/svc/log/site-db:default.log", Name: "Database", Restarter: "svc:/system/svc/restarter:default",
			Manpages: []control.Manpage{{Title: "db", Section: "8", Manpath: "/opt/db/man"}}},
		{FMRI: "svc:/site/app:default", State: "offline", NextState: "none", STime: now.Add(-time.Hour), Enabled: true,
			Log:  "/var/svc/log/site-app:default.log",
			Deps: []control.Dep{dep("require_all", "error", []string{"svc:/site/db"}, "maintenance")}},
		{FMRI: "svc:/site/front:default", State: "offline", NextState: "none", STime: now.Add(-time.Hour), Enabled: true,
			Deps: []control.Dep{dep("require_all", "none", []string{"svc:/site/app:default"}, "offline"),
				dep("exclude_all", "none", []string{"svc:/site/off"}, "disabled")}},
		{FMRI: "svc:/site/web:default", State: "online", NextState: "offline", STime: now.Add(-48 * time.Hour), Enabled: true, Contract: 12,
			Pids: []int{os.Getpid()}, Props: []control.Prop{{Group: "config", Name: "port", Type: "count", Values: []string{"8080"}},
				{Group: "config", Name: "motd", Type: "astring", Values: []string{"hello world"}}}},
		{FMRI: "svc:/site/cfg:default", State: "offline", NextState: "none", STime: now.Add(-400 * 24 * time.Hour), Enabled: true,
			Deps: []control.Dep{{Grouping: "require_all", RestartOn: "none", Type: "path", FMRIs: []string{"file://localhost/etc/cfg"}, States: []string{"absent"}}}},
		{FMRI: "svc:/site/off:default", State: "disabled", NextState: "none", STime: now.Add(-time.Minute)},
		{FMRI: "svc:/site/tmp:default", State: "disabled", NextState: "none", STime: now.Add(-9*time.Hour - 5*time.Minute), Temporary: true},
		{FMRI: "lrc:/etc/rc_d/S10x", State: "legacy_run", NextState: "none", STime: now.Add(-2 * time.Hour)},
	}
}

func run(args ...string) (string, int) {
	var out bytes.Buffer
	code := Main(args, Env{Stdout: &out, Stderr: &out, Now: func() time.Time { return now }, Zone: "-", ZoneRoot: "/z",
		Call: func(*control.Request) (*control.Response, error) {
			return &control.Response{Instances: statuses()}, nil
		}})
	return out.String(), code
}

func TestOutput(t *testing.T) {
	me := fmt.Sprintf("%6d", os.Getpid())
	tests := []struct {
		args []string
		want string
		code int
	}{
		// Enabled instances (a temporarily disabled one too), least
		// interesting state first; a transition starred.
		{nil, `STATE          STIME    FMRI
legacy_run     10:00:00 lrc:/etc/rc_d/S10x
disabled        2:55:00 svc:/site/tmp:default
online*        Mar_08   svc:/site/web:default
offline        2025     svc:/site/cfg:default
offline        11:00:00 svc:/site/app:default
offline        11:00:00 svc:/site/front:default
maintenance    11:00:00 svc:/site/db:default
`, 0},
		{[]string{"-v", "web"}, `STATE          NSTATE        STIME    CTID   FMRI
online         offline       Mar_08       12 svc:/site/web:default
`, 0},
		{[]string{"-H", "-o", "sta,nsta,ctid,svc,inst", "web", "off"}, `DIS  -         - site/off             default
ON   OFF      12 site/web             default
`, 0},
		{[]string{"-H", "-o", "s,sn,n,state", "web"}, "1  10 0 online\n", 0},
		{[]string{"-a", "-H", "-S", "fmri", "-o", "fmri"}, `svc:/site/web:default
svc:/site/tmp:default
svc:/site/off:default
svc:/site/front:default
svc:/site/db:default
svc:/site/cfg:default
svc:/site/app:default
lrc:/etc/rc_d/S10x
`, 0},
		{[]string{"-Hp", "web"}, "online*        Mar_08   svc:/site/web:default\n               " + STime(self(t), now) + "   " + me + " " + selfName(t) + "\n", 0},
		{[]string{"-d", "-H", "front"}, "offline        11:00:00 svc:/site/app:default\n", 0},
		{[]string{"-D", "-H", "db"}, "offline        11:00:00 svc:/site/app:default\n", 0},
		{[]string{"-L", "db", "app"}, "/z/var/svc/log/site-db:default.log\n/z/var/svc/log/site-app:default.log\n", 0},
		{[]string{"nosuch"}, "svcs: Pattern 'nosuch' doesn't match any instances\nSTATE          STIME    FMRI\n", 1},
		{[]string{"-a", "web"}, "svcs: -a ignored when used with arguments.\nSTATE          STIME    FMRI\nonline*        Mar_08   svc:/site/web:default\n", 0},
		// -x: the root causes, most impact first.
		{[]string{"-x"}, `svc:/site/db:default (Database)
  Zone: -
 State: maintenance since Tue Mar 10 11:00:00 2026
Reason: Start method failed repeatedly, last exited with status 1.
   See: http://illumos.org/msg/SMF-8000-KS
   See: db(8)
   See: /z/var/svc/log/site-db:default.log
Impact: 2 dependent services are not running.  (Use -v for list.)

svc:/site/cfg:default (?)
  Zone: -
 State: offline since Mon Feb  3 12:00:00 2025
Reason: Dependency file://localhost/etc/cfg is absent.
   See: http://illumos.org/msg/SMF-8000-E2
Impact: This service is not running.
`, 0},
		{[]string{"-xv", "front"}, `svc:/site/front:default (?)
  Zone: -
 State: offline since Tue Mar 10 11:00:00 2026
Reason: Service svc:/site/db:default
        is not running because a method failed repeatedly.
   See: http://illumos.org/msg/SMF-8000-GE
  Path: svc:/site/front:default
          svc:/site/app:default
            svc:/site/db:default
Impact: This service is not running.
`, 0},
		{[]string{"-xv", "db"}, `svc:/site/db:default (Database)
  Zone: -
 State: maintenance since Tue Mar 10 11:00:00 2026
Reason: Start method failed repeatedly, last exited with status 1.
   See: http://illumos.org/msg/SMF-8000-KS
   See: man -M /opt/db/man -s 8 db
   See: /z/var/svc/log/site-db:default.log
Impact: 2 dependent services are not running:
        svc:/site/app:default
        svc:/site/front:default
`, 0},
		{[]string{"-x", "web", "tmp"}, `svc:/site/web:default (?)
  Zone: -
 State: online since Sun Mar  8 12:00:00 2026
Impact: None.

svc:/site/tmp:default (?)
  Zone: -
 State: disabled since Tue Mar 10 02:55:00 2026
Reason: Temporarily disabled by an administrator.
   See: http://illumos.org/msg/SMF-8000-1S
Impact: This service is not running.
`, 0},
		{[]string{"-l", "app"}, `fmri         svc:/site/app:default
zone         -
enabled      true
state        offline
next_state   none
state_time   Tue Mar 10 11:00:00 2026
logfile      /z/var/svc/log/site-app:default.log
restarter    svc:/system/svc/restarter:default
dependency   require_all/error svc:/site/db (maintenance)
`, 0},
		{[]string{"-lpv", "web"}, `fmri         svc:/site/web:default
zone         -
enabled      true
state        online
next_state   offline
state_time   Sun Mar  8 12:00:00 2026
restarter    svc:/system/svc/restarter:default
contract_id  12 
process      ` + fmt.Sprint(os.Getpid()) + " " + cmdline(os.Getpid()) + `
config (application)
config/port (count) = 8080 
config/motd (astring) = "hello world"
`, 0},
		// Usage: modes exclude each other and some options.
		{[]string{"-q"}, "svcs: illegal option -- q\n" + usage, 2},
		{[]string{"-o"}, "svcs: option requires an argument -- o\n" + usage, 2},
		{[]string{"-l"}, usage, 2},
		{[]string{"-d"}, usage, 2},
		{[]string{"-l", "-x", "db"}, usage, 2},
		{[]string{"-a", "-x"}, usage, 2},
		{[]string{"-H", "-l", "db"}, usage, 2},
		{[]string{"-p", "-x"}, usage, 2},
		{[]string{"-s", "state", "-d", "db"}, usage, 2},
		{[]string{"-o", "bogus"}, "svcs: Unknown column \"bogus\".\n", 1},
		{[]string{"-s", "bogus"}, "svcs: Unrecognized sort column \"bogus\".\n", 1},
	}
	for _, tt := range tests {
		got, code := run(tt.args...)
		if got != tt.want || code != tt.code {
			t.Errorf("svcs %v = %d\n%s\nwant %d\n%s", tt.args, code, got, tt.code, tt.want)
		}
	}
}

func self(t *testing.T) time.Time {
	p, ok := readProc(os.Getpid())
	if !ok {
		t.Fatal("cannot read /proc/self")
	}
	return p.start
}

func selfName(t *testing.T) string {
	p, _ := readProc(os.Getpid())
	return p.name
}

func TestSTime(t *testing.T) {
	for _, tt := range []struct {
		ago  time.Duration
		want string
	}{
		{time.Hour, "11:00:00"},
		{11*time.Hour + 30*time.Minute, " 0:30:00"},
		{-time.Hour, "13:00:00"}, // a clock set back: still today's time
		{30 * time.Hour, "Mar_09  "},
		{359 * 24 * time.Hour, "Mar_16  "},
		{361 * 24 * time.Hour, "2025    "},
	} {
		if got := STime(now.Add(-tt.ago), now); got != tt.want {
			t.Errorf("STime(%v ago) = %q, want %q", tt.ago, got, tt.want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	var out bytes.Buffer
	code := Main(nil, Env{Stdout: &out, Stderr: &out, Call: func(*control.Request) (*control.Response, error) {
		return nil, fmt.Errorf("%w (dial unix /x: connect: no such file or directory)", control.ErrUnavailable)
	}})
	if want := "svcs: Could not bind to repository server: repository server unavailable (dial unix /x: connect: no such file or directory).  Exiting.\n"; code != 1 || out.String() != want {
		t.Errorf("%d %q", code, out.String())
	}
	if !strings.Contains(help, "STIME   time of last state change") {
		t.Error("help lists no columns")
	}
}
