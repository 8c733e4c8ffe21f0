package zoneinit

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A zone's halt, poweroff, reboot and shutdown, as SmartOS zones have
// them in /usr/sbin (ShutdownTools): they ask the zone's init
// (hull's svc.startd or zoneinit, PID 1) to halt or reboot.

// HaltSignal and RebootSignal are the requests the node and the zone's
// tools send its init.
const (
	HaltSignal   = syscall.SIGPWR
	RebootSignal = syscall.SIGINT
)

// ShutdownSignals are the signals that end a zone's init, as busybox's
// init takes them, for an image's own halt, poweroff and reboot are
// often busybox's (and its shell runs its own even before the PATH):
// SIGUSR1 (halt), SIGUSR2 (poweroff) and SIGPWR halt the zone; SIGTERM
// (reboot) and SIGINT (ctrl-alt-del) reboot it.
var ShutdownSignals = []os.Signal{syscall.SIGPWR, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT}

// Reboots reports whether sig asks the zone to reboot.
func Reboots(sig os.Signal) bool { return sig == syscall.SIGTERM || sig == syscall.SIGINT }

// ShutdownTools are SmartOS's in-zone halt, poweroff, reboot and
// shutdown: the hull binary under those names in /usr/sbin of zones whose
// init is hull's (not lx zones, which have their distribution's, nor
// docker zones).
var ShutdownTools = []string{"halt", "poweroff", "reboot", "shutdown"}

// InitPath is where PID 1 runs from in a zone of hull's.
const InitPath = "/.hull/hull"

// ToolMain runs the shutdown tool named name; isTTY says whether stdin
// is a terminal (shutdown asks first there, unless -y).
func ToolMain(name string, args []string, stdin io.Reader, stdout, stderr io.Writer, isTTY bool) int {
	sig := HaltSignal
	switch name {
	case "halt", "poweroff", "reboot":
		for _, a := range args {
			// illumos's flags (-d -l -n -q -y) and Linux's (-f -p
			// -w --force …) change nothing here.
			if !strings.HasPrefix(a, "-") {
				fmt.Fprintf(stderr, "Usage: %s [-dlnqy]\n", name)
				return 2
			}
		}
		if name == "reboot" {
			sig = RebootSignal
		}
	case "shutdown":
		s, grace, yes, err := shutdownArgs(args)
		if err != nil {
			fmt.Fprintf(stderr, "shutdown: %v\nUsage: shutdown [-y] [-g grace-period] [-i init-state] [message]\n", err)
			return 2
		}
		sig = s
		if !yes && isTTY {
			fmt.Fprint(stdout, "Do you want to continue? (y or n):   ")
			var answer string
			fmt.Fscanln(stdin, &answer)
			if !strings.HasPrefix(answer, "y") {
				return 1
			}
		}
		if grace > 0 {
			fmt.Fprintf(stdout, "Shutdown started in %v.\n", grace)
			time.Sleep(grace)
		}
	default:
		fmt.Fprintf(stderr, "%s: unknown tool\n", name)
		return 2
	}
	if exe, err := os.Readlink("/proc/1/exe"); err != nil || exe != InitPath {
		fmt.Fprintf(stderr, "%s: not in a zone of hull's (PID 1 is %s)\n", name, exe)
		return 1
	}
	if err := syscall.Kill(1, sig); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// shutdownArgs reads illumos's shutdown [-y] [-g grace] [-i state]
// [message]: state 0 or 5 halts, 6 reboots (single-user, s, has no
// meaning in a zone); the grace period is 60 s unless given. Linux's
// -h, -r and "now" are taken too.
func shutdownArgs(args []string) (sig syscall.Signal, grace time.Duration, yes bool, err error) {
	state := "s"
	grace = 60 * time.Second
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-y":
			yes = true
		case a == "-h" || a == "-P":
			state = "5"
		case a == "-r":
			state = "6"
		case a == "now":
			grace, yes = 0, true
		case strings.HasPrefix(a, "-g"), strings.HasPrefix(a, "-i"):
			v := a[2:]
			if v == "" {
				if i+1 >= len(args) {
					return 0, 0, false, fmt.Errorf("option %s needs a value", a)
				}
				i++
				v = args[i]
			}
			if a[1] == 'i' {
				state = v
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, 0, false, fmt.Errorf("bad grace period %q", v)
			}
			grace = time.Duration(n) * time.Second
		case strings.HasPrefix(a, "-"):
			return 0, 0, false, fmt.Errorf("illegal option %s", a)
		}
	}
	switch state {
	case "0", "5":
		return HaltSignal, grace, yes, nil
	case "6":
		return RebootSignal, grace, yes, nil
	}
	return 0, 0, false, fmt.Errorf("init state %s has no meaning in a zone: use -i5 (halt) or -i6 (reboot)", state)
}
