// Package zlogin is the zlogin command: a login shell or a command inside
// a zone (in all its namespaces and its cgroup, as the zone's root), or
// the zone's console with -C.
package zlogin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/term"

	"hull/internal/node"
	"hull/internal/zone"
)

// Env is what the command needs from its process.
type Env struct {
	Stdin          *os.File
	Stdout, Stderr io.Writer
	Open           func() (*node.Node, error)
}

const usage = "usage: zlogin [ -nQCESt ] [ -e cmdchar ] [-l user] zonename [command [args ...] ]\n"

// options are zlogin's flags, as illumos's zlogin takes them, and -t.
type options struct {
	console  bool   // -C: the zone's console
	quiet    bool   // -Q: no connect and disconnect banners
	noEscape bool   // -E: no escape character
	escape   byte   // -e: the escape character (default ~)
	failsafe bool   // -S: a bare shell, no su
	nullIn   bool   // -n: stdin from /dev/null
	forceTTY bool   // -t: a pty for a command too (when stdin is a terminal)
	user     string // -l: log in as this user
	zone     string
	command  []string
}

// usageError is a message for stderr, followed by the usage; exit 2.
type usageError string

// parseArgs reads zlogin's command line as illumos's getopt does (flags
// may be grouped, -e and -l take a value, joined or separate), with its
// checks and messages.
func parseArgs(args []string) (options, error) {
	o := options{escape: '~'}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
	flags:
		for j := 1; j < len(a); j++ {
			switch c := a[j]; c {
			case 'C':
				o.console = true
			case 'Q':
				o.quiet = true
			case 'E':
				o.noEscape = true
			case 'S':
				o.failsafe = true
			case 'n':
				o.nullIn = true
			case 't':
				o.forceTTY = true
			case 'e', 'l':
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return o, usageError(fmt.Sprintf("zlogin: option requires an argument -- %c\n", c))
					}
					i++
					val = args[i]
				}
				if c == 'l' {
					o.user = val
				} else if err := o.setEscape(val); err != nil {
					return o, err
				}
				break flags
			default:
				return o, usageError(fmt.Sprintf("zlogin: illegal option -- %c\n", c))
			}
		}
	}
	if o.console {
		for _, c := range []struct {
			set  bool
			flag string
		}{{o.user != "", "-l"}, {o.nullIn, "-n"}, {o.failsafe, "-S"}} {
			if c.set {
				return o, usageError("zlogin: " + c.flag + " may not be specified for console login\n")
			}
		}
	}
	if o.failsafe && o.user != "" {
		return o, usageError("zlogin: -l may not be specified for failsafe login\n")
	}
	switch rest := args[i:]; {
	case len(rest) == 0:
		return o, usageError("")
	case len(rest) == 1:
		if o.nullIn {
			return o, usageError("zlogin: -n may not be specified for interactive login\n")
		}
		o.zone = rest[0]
	default:
		if o.console {
			return o, usageError("zlogin: Commands may not be specified for console login.\n")
		}
		o.zone, o.command = rest[0], rest[1:]
	}
	return o, nil
}

func (e usageError) Error() string { return string(e) }

// setEscape reads -e as illumos does: a character, "\" or "\\" for a
// backslash, or "\NNN" in octal.
func (o *options) setEscape(s string) error {
	if !strings.HasPrefix(s, `\`) {
		o.escape = s[0]
		return nil
	}
	if s == `\` || strings.HasPrefix(s, `\\`) {
		o.escape = '\\'
		return nil
	}
	if s[1] < '0' || s[1] > '7' {
		return usageError(fmt.Sprintf("zlogin: Unrecognized escape character option %s\n", s))
	}
	end := 1
	for end < len(s) && s[end] >= '0' && s[end] <= '7' {
		end++
	}
	n, err := strconv.ParseUint(s[1:end], 8, 32)
	if err != nil || n > 255 {
		return usageError(fmt.Sprintf("zlogin: Octal escape character '%s' too large\n", s))
	}
	o.escape = byte(n)
	return nil
}

// Main runs zlogin; the exit status of a command run in the zone is
// passed through. Usage errors exit 2, other errors 1.
func Main(args []string, env Env) int {
	for _, a := range args {
		if a == "-h" || a == "--help" {
			fmt.Fprint(env.Stdout, usage)
			return 0
		}
		if !strings.HasPrefix(a, "-") {
			break
		}
	}
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprint(env.Stderr, err.Error()+usage)
		return 2
	}
	n, err := env.Open()
	if err != nil {
		fmt.Fprintf(env.Stderr, "zlogin: %v\n", err)
		return 1
	}
	uuid, err := n.Resolve(o.zone)
	if errors.Is(err, node.ErrNoSuchVM) {
		fmt.Fprintf(env.Stderr, "zlogin: zone '%s' unknown\n", o.zone)
		return 1
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "zlogin: %v\n", err)
		return 1
	}
	v, err := n.Get(uuid)
	if err != nil {
		fmt.Fprintf(env.Stderr, "zlogin: %v\n", err)
		return 1
	}
	if o.console {
		copts := ConsoleOptions{Name: v.Zonename, Quiet: o.quiet, Escape: o.escape, NoEscape: o.noEscape}
		if err := Console(n, uuid, env.Stdin, env.Stdout, copts); err != nil {
			fmt.Fprintf(env.Stderr, "zlogin: %v\n", err)
			return 1
		}
		return 0
	}
	if v.State != "running" {
		fmt.Fprintf(env.Stderr, "zlogin: login allowed only to running zones (%s is '%s').\n", o.zone, v.ZoneState)
		return 1
	}
	stdin := env.Stdin
	if o.nullIn {
		if stdin, err = os.Open(os.DevNull); err != nil {
			fmt.Fprintf(env.Stderr, "zlogin: failed to open null device: %v\n", err)
			return 1
		}
		defer stdin.Close()
	}
	c := n.Runtime.Exec(context.Background(), zone.ContainerID(uuid), execOptions(o, term.IsTerminal(int(stdin.Fd()))), argv(o))
	c.Stdin, c.Stdout, c.Stderr = stdin, env.Stdout, env.Stderr
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintf(env.Stderr, "zlogin: %v\n", err)
		return 1
	}
	return 0
}

// argv is what runs in the zone: a login shell, or the command joined
// into one string for a shell (as illumos's zlogin hands it to su -c);
// another user's through su's login; with -S a bare shell.
func argv(o options) []string {
	cmd := strings.Join(o.command, " ")
	switch {
	case o.user != "" && o.user != "root" && cmd == "":
		return []string{"/bin/su", "-", o.user}
	case o.user != "" && o.user != "root":
		return []string{"/bin/su", "-", o.user, "-c", cmd}
	case cmd != "":
		return []string{"/bin/sh", "-c", cmd}
	case o.failsafe:
		return []string{"/bin/sh"}
	}
	return []string{"/bin/sh", "-l"}
}

// execOptions: a login gets a pty when zlogin's stdin is a terminal, a
// command only with -t; the environment is root's (failsafe: HOME=/).
func execOptions(o options, stdinTTY bool) zone.ExecOptions {
	home := "/root"
	if o.failsafe {
		home = "/"
	}
	env := []string{"HOME=" + home, "LOGNAME=root", "USER=root", "SHELL=/bin/sh"}
	if t := os.Getenv("TERM"); t != "" {
		env = append(env, "TERM="+t)
	} else {
		env = append(env, "TERM=xterm")
	}
	tty := stdinTTY && (len(o.command) == 0 || o.forceTTY)
	return zone.ExecOptions{TTY: tty, Env: env, Cwd: home}
}
