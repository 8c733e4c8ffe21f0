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

const usage = "Usage: zlogin [-l user] [-t] zonename [command [arg ...]]\n       zlogin -C zonename\n"

// Main runs zlogin; the exit status of a command run in the zone is
// passed through.
func Main(args []string, env Env) int {
	var console, forceTTY bool
	var user string
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		switch a {
		case "-C":
			console = true
		case "-t":
			forceTTY = true
		case "-T", "-Q", "-E", "-S":
			// accepted for compatibility; nothing to change here
		case "-l":
			if i+1 >= len(args) {
				fmt.Fprint(env.Stderr, usage)
				return 2
			}
			user = args[i+1]
			i++
		case "-h", "--help":
			fmt.Fprint(env.Stdout, usage)
			return 0
		default:
			fmt.Fprintf(env.Stderr, "zlogin: illegal option -- %s\n%s", strings.TrimLeft(a, "-"), usage)
			return 2
		}
	}
	if i >= len(args) {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	ref, cmdArgs := args[i], args[i+1:]
	n, err := env.Open()
	if err != nil {
		fmt.Fprintf(env.Stderr, "zlogin: %v\n", err)
		return 1
	}
	uuid, err := n.Resolve(ref)
	if err != nil {
		fmt.Fprintf(env.Stderr, "zlogin: %v\n", err)
		return 1
	}
	v, err := n.Get(uuid)
	if err != nil {
		fmt.Fprintf(env.Stderr, "zlogin: %v\n", err)
		return 1
	}
	if console {
		if len(cmdArgs) > 0 {
			fmt.Fprint(env.Stderr, usage)
			return 2
		}
		if err := Console(n, uuid, env.Stdin, env.Stdout); err != nil {
			fmt.Fprintf(env.Stderr, "zlogin: %v\n", err)
			return 1
		}
		return 0
	}
	if v.State != "running" {
		fmt.Fprintf(env.Stderr, "zlogin: login allowed only to running zones (%s is '%s').\n", ref, v.State)
		return 1
	}
	isTTY := term.IsTerminal(int(env.Stdin.Fd()))
	var argv []string
	tty := false
	if len(cmdArgs) == 0 {
		// An interactive login shell, on a pty when we have a terminal.
		argv = []string{"/bin/sh", "-l"}
		tty = isTTY
	} else {
		// zlogin runs a command through the shell, like SmartOS's.
		argv = []string{"/bin/sh", "-c", strings.Join(cmdArgs, " ")}
		tty = forceTTY && isTTY
	}
	if user != "" && user != "root" {
		argv = append([]string{"/bin/su", "-", user, "-c"}, strings.Join(argv, " "))
	}
	envs := []string{"HOME=/root", "LOGNAME=root", "USER=root", "SHELL=/bin/sh"}
	if t := os.Getenv("TERM"); t != "" {
		envs = append(envs, "TERM="+t)
	} else {
		envs = append(envs, "TERM=xterm")
	}
	c := n.Runtime.Exec(context.Background(), zone.ContainerID(uuid), zone.ExecOptions{TTY: tty, Env: envs, Cwd: "/root"}, argv)
	c.Stdin, c.Stdout, c.Stderr = env.Stdin, env.Stdout, env.Stderr
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
