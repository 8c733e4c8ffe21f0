// Package vmadm is the vmadm command: SmartOS's VM administration tool,
// with its subcommands, messages and exit codes (0 ok, 1 error, 2 usage).
package vmadm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/node"
	"hull/internal/vm"
)

// Env is what the command needs from its process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Open opens the node (the real one, or one under a test root).
	Open func() (*node.Node, error)
	// Daemon returns a client of the node's running hulld, or nil when
	// none runs (or in tests): then vmadm acts on the node itself.
	Daemon func() Daemon
	// View opens it for reading only (list, get, lookup); nil means Open.
	View func() (*node.Node, error)
	// StdinIsTTY reports whether stdin is a terminal (payloads are
	// refused from a terminal, as SmartOS does).
	StdinIsTTY bool
}

const usage = `Usage: vmadm <command> [options]

  create [-f <filename>]
  create-snapshot <uuid> <snapname>
  console <uuid>
  delete <uuid>
  delete-snapshot <uuid> <snapname>
  events [-fjr] [uuid]
  get <uuid>
  info <uuid> [type,...]
  kill [-s SIGNAL|-SIGNAL] <uuid>
  list [-p] [-H] [-o field,...] [-s field,...] [field=value ...]
  lookup [-j|-1] [-o field,...] [field=value ...]
  reboot <uuid> [-F]
  receive [-f <filename>]
  rollback-snapshot <uuid> <snapname>
  send <uuid> [target]
  start <uuid>
  stop <uuid> [-F] [-t timeout]
  update <uuid> [-f <filename>]
  update <uuid> property=value [property=value ...]
  validate create [-f <filename>]
  validate update <brand> [-f <filename>]
`

// usageError makes Main print usage and exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Main runs vmadm with args (without the program name).
func Main(args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	// -d/--debug and -v/--verbose are accepted everywhere.
	var rest []string
	for _, a := range args {
		if a == "-d" || a == "--debug" || a == "-v" || a == "--verbose" {
			continue
		}
		rest = append(rest, a)
	}
	args = rest
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-?", "--help", "help":
		fmt.Fprint(env.Stdout, usage)
		return 0
	}
	c := &cli{env: env, ctx: context.Background()}
	err := c.run(args[0], args[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintln(env.Stderr, ue.msg)
		}
		fmt.Fprint(env.Stderr, usage)
		return 2
	case errors.Is(err, errQuietExit):
		return 1
	default:
		fmt.Fprintln(env.Stderr, err.Error())
		return 1
	}
}

var errQuietExit = errors.New("")

type cli struct {
	env Env
	ctx context.Context
	n   *node.Node
}

func (c *cli) node() (*node.Node, error) {
	if c.n != nil {
		return c.n, nil
	}
	n, err := c.env.Open()
	if err != nil {
		return nil, err
	}
	c.n = n
	return n, nil
}

// Daemon is what vmadm asks of a running hulld.
type Daemon interface {
	Create(payload []byte) (*vm.VM, error)
	Action(uuid, action string, force bool, timeout time.Duration, body []byte) (*vm.VM, error)
	Delete(uuid string) error
}

// daemon returns the running hulld, if any: operations then go through it,
// so the node's owner carries them out.
func (c *cli) daemon() Daemon {
	if c.env.Daemon == nil {
		return nil
	}
	return c.env.Daemon()
}

// view opens the node for a read-only command.
func (c *cli) view() (*node.Node, error) {
	if c.env.View == nil {
		return c.node()
	}
	return c.env.View()
}

func (c *cli) run(cmd string, args []string) error {
	switch cmd {
	case "create":
		return c.create(args)
	case "validate":
		return c.validate(args)
	case "get", "json":
		return c.get(args)
	case "list":
		return c.list(args)
	case "lookup":
		return c.lookup(args)
	case "start", "boot":
		return c.start(args)
	case "stop", "halt":
		return c.stop(args, "stop")
	case "reboot":
		return c.stop(args, "reboot")
	case "kill":
		return c.kill(args)
	case "update":
		return c.update(args)
	case "delete", "destroy":
		return c.del(args)
	case "console":
		return c.console(args)
	case "events":
		return c.events(args)
	case "info", "sysrq":
		return errors.New("info and sysrq are only for HVM (kvm) VMs, which this node does not run yet")
	case "create-snapshot", "delete-snapshot", "rollback-snapshot":
		return c.snapshot(cmd, args)
	case "send":
		return c.send(args)
	case "receive", "recv":
		return c.receive(args)
	case "reprovision", "install":
		return fmt.Errorf("vmadm %s is not supported yet on this node", cmd)
	}
	return usageError{fmt.Sprintf("Invalid command: %q", cmd)}
}

// readPayload reads a JSON payload from -f file ("-" = stdin) or stdin,
// refusing a terminal as SmartOS does.
func (c *cli) readPayload(file, action string) ([]byte, error) {
	if file == "" || file == "-" {
		if c.env.StdinIsTTY {
			return nil, fmt.Errorf("Will not %s from stdin when stdin is a tty.", action)
		}
		return io.ReadAll(c.env.Stdin)
	}
	return os.ReadFile(file)
}

// oneUUID takes exactly one uuid argument, checking its shape.
func oneUUID(args []string) (string, error) {
	if len(args) != 1 {
		return "", usageError{"Expected exactly one uuid"}
	}
	if !node.ValidUUID(args[0]) {
		return "", usageError{fmt.Sprintf("Invalid UUID: %s", args[0])}
	}
	return args[0], nil
}

func (c *cli) create(args []string) error {
	file, rest, err := flagF(args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageError{"Unexpected arguments: " + strings.Join(rest, " ")}
	}
	payload, err := c.readPayload(file, "create")
	if err != nil {
		return err
	}
	var v *vm.VM
	if d := c.daemon(); d != nil {
		v, err = d.Create(payload)
	} else {
		n, nerr := c.node()
		if nerr != nil {
			return nerr
		}
		v, err = n.Create(c.ctx, payload)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Successfully created VM %s\n", v.UUID)
	return nil
}

// flagF parses an optional -f <file>.
func flagF(args []string) (string, []string, error) {
	var file string
	var rest []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-f" {
			if i+1 >= len(args) {
				return "", nil, usageError{"-f requires a filename"}
			}
			file = args[i+1]
			i++
			continue
		}
		rest = append(rest, args[i])
	}
	return file, rest, nil
}

func (c *cli) validate(args []string) error {
	file, rest, err := flagF(args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usageError{"validate requires an action"}
	}
	var brand string
	switch rest[0] {
	case "create":
		if len(rest) != 1 {
			return usageError{"Usage: validate create [-f <filename>]"}
		}
	case "update":
		if len(rest) != 2 {
			return usageError{"Usage: validate update <brand> [-f <filename>]"}
		}
		brand = rest[1]
	default:
		return usageError{fmt.Sprintf("Invalid action: %q", rest[0])}
	}
	payload, err := c.readPayload(file, "validate")
	if err != nil {
		return err
	}
	if rest[0] == "create" {
		err = vm.ValidateCreate(payload)
		if err == nil {
			brand = payloadBrand(payload)
		}
	} else {
		err = vm.ValidateUpdate(brand, payload)
	}
	if err != nil {
		var ve *vm.ValidationError
		if errors.As(err, &ve) {
			b, _ := json.MarshalIndent(ve, "", "  ")
			fmt.Fprintln(c.env.Stdout, string(b))
			return errQuietExit
		}
		return err
	}
	fmt.Fprintln(c.env.Stdout, vm.ValidMessage(rest[0], brand))
	return nil
}

func payloadBrand(b []byte) string {
	var p struct{ Brand string }
	_ = json.Unmarshal(b, &p)
	if p.Brand == "" {
		return "joyent"
	}
	return p.Brand
}

func (c *cli) get(args []string) error {
	uuid, err := oneUUID(args)
	if err != nil {
		return err
	}
	n, err := c.view()
	if err != nil {
		return err
	}
	v, err := n.Get(uuid)
	if err != nil {
		return err
	}
	b, err := vm.JSON(v)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.env.Stdout, string(b))
	return nil
}

func (c *cli) start(args []string) error {
	uuid, err := oneUUID(args)
	if err != nil {
		return err
	}
	if d := c.daemon(); d != nil {
		_, err = d.Action(uuid, "start", false, 0, nil)
	} else {
		n, nerr := c.node()
		if nerr != nil {
			return nerr
		}
		err = n.Start(c.ctx, uuid)
	}
	if errors.Is(err, node.ErrAlreadyRunning) {
		fmt.Fprintf(c.env.Stderr, "VM %s is already running\n", uuid)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Successfully started VM %s\n", uuid)
	return nil
}

func (c *cli) stop(args []string, action string) error {
	var force bool
	var timeout time.Duration
	var pos []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-F", "--force":
			force = true
		case "-t", "--timeout":
			if i+1 >= len(args) {
				return usageError{"-t requires a number of seconds"}
			}
			var s int
			if _, err := fmt.Sscanf(args[i+1], "%d", &s); err != nil || s < 0 {
				return usageError{fmt.Sprintf("Invalid timeout: %s", args[i+1])}
			}
			timeout = time.Duration(s) * time.Second
			i++
		default:
			pos = append(pos, args[i])
		}
	}
	uuid, err := oneUUID(pos)
	if err != nil {
		return err
	}
	if d := c.daemon(); d != nil {
		_, err = d.Action(uuid, action, force, timeout, nil)
	} else {
		n, nerr := c.node()
		if nerr != nil {
			return nerr
		}
		if action == "reboot" {
			err = n.Reboot(c.ctx, uuid, force)
		} else {
			err = n.Stop(c.ctx, uuid, force, timeout)
		}
	}
	if errors.Is(err, node.ErrNotRunning) {
		fmt.Fprintf(c.env.Stderr, "VM %s is not running\n", uuid)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Successfully completed %s for VM %s\n", action, uuid)
	return nil
}

func (c *cli) kill(args []string) error {
	sig := syscall.SIGTERM
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-s":
			if i+1 >= len(args) {
				return usageError{"-s requires a signal"}
			}
			s, err := parseSignal(args[i+1])
			if err != nil {
				return err
			}
			sig = s
			i++
		case strings.HasPrefix(a, "-") && len(a) > 1:
			s, err := parseSignal(a[1:])
			if err != nil {
				return err
			}
			sig = s
		default:
			pos = append(pos, a)
		}
	}
	uuid, err := oneUUID(pos)
	if err != nil {
		return err
	}
	n, err := c.node()
	if err != nil {
		return err
	}
	if err := n.Kill(c.ctx, uuid, sig); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Sent signal \"%s\" to init process for VM %s\n", signalName(sig), uuid)
	return nil
}

func parseSignal(s string) (syscall.Signal, error) {
	var num int
	if _, err := fmt.Sscanf(s, "%d", &num); err == nil && fmt.Sprint(num) == s {
		if num <= 0 || num > 64 {
			return 0, fmt.Errorf("Invalid signal: %s", s)
		}
		return syscall.Signal(num), nil
	}
	name := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(s), "SIG"))
	sig := unix.SignalNum("SIG" + name)
	if sig == 0 {
		return 0, fmt.Errorf("Invalid signal: %s", s)
	}
	return sig, nil
}

func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return fmt.Sprint(int(s))
}

func (c *cli) update(args []string) error {
	if len(args) == 0 {
		return usageError{"update requires a uuid"}
	}
	file, rest, err := flagF(args)
	if err != nil {
		return err
	}
	uuid, err := oneUUID(rest[:1])
	if err != nil {
		return err
	}
	var payload []byte
	if kv := rest[1:]; len(kv) > 0 {
		if file != "" {
			return usageError{"Cannot use -f with property=value arguments"}
		}
		m, err := vm.ParseUpdateArgs(kv)
		if err != nil {
			return err
		}
		if payload, err = json.Marshal(m); err != nil {
			return err
		}
	} else if payload, err = c.readPayload(file, "update"); err != nil {
		return err
	}
	if d := c.daemon(); d != nil {
		_, err = d.Action(uuid, "update", false, 0, payload)
	} else {
		n, nerr := c.node()
		if nerr != nil {
			return nerr
		}
		_, err = n.Update(c.ctx, uuid, payload)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Successfully updated VM %s\n", uuid)
	return nil
}

func (c *cli) del(args []string) error {
	uuid, err := oneUUID(args)
	if err != nil {
		return err
	}
	if d := c.daemon(); d != nil {
		err = d.Delete(uuid)
	} else {
		n, nerr := c.node()
		if nerr != nil {
			return nerr
		}
		err = n.Delete(c.ctx, uuid)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Successfully deleted VM %s\n", uuid)
	return nil
}
