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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/image"
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
	// ImageInstalled tells validate whether the node has an image; nil
	// asks the node opened with Open.
	ImageInstalled func(uuid string) (bool, error)
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
reprovision <uuid> [-f <filename>]
rollback-snapshot <uuid> <snapname>
send <uuid> [target]
start <uuid>
stop <uuid> [-F] [-t timeout]
sysrq <uuid> <nmi|screenshot>
update <uuid> [-f <filename>]
 -or- update <uuid> property=value [property=value ...]
validate create [-f <filename>]
validate update <brand> [-f <filename>]

For more detailed information on the use of this command, see vmadm(8).
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
	case "info":
		return c.info(args)
	case "sysrq":
		return c.sysrq(args)
	case "create-snapshot", "delete-snapshot", "rollback-snapshot":
		return c.snapshot(cmd, args)
	case "send":
		return c.send(args)
	case "receive", "recv":
		return c.receive(args)
	case "reprovision":
		return c.reprovision(args)
	case "install":
		// SmartOS's install finishes a receive that stopped before its
		// zone was installed; hull's receive installs what it receives,
		// or leaves nothing, so there is never one to finish.
		uuid, err := oneUUID(cmd, args)
		if err != nil {
			return err
		}
		return fmt.Errorf("Unable to install VM %s: no receive of it awaits installation (vmadm receive installs the VM it receives, or leaves nothing)", uuid)
	}
	return usageError{fmt.Sprintf("Invalid command: %q.", cmd)}
}

// readPayload reads a JSON payload from -f file ("-" = stdin) or stdin,
// refusing a terminal (a usage error) as SmartOS does.
func (c *cli) readPayload(file, action string) ([]byte, error) {
	if file == "" || file == "-" {
		if c.env.StdinIsTTY {
			return nil, usageError{fmt.Sprintf("Will not %s from stdin when stdin is a tty.", action)}
		}
		return io.ReadAll(c.env.Stdin)
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("File: %s does not exist.", file)
	}
	if err != nil {
		return nil, fmt.Errorf("Error reading: %s %v", file, err)
	}
	return b, nil
}

// oneUUID takes the uuid argument of cmd, checking its shape as SmartOS
// does (36 characters, dashes at 8, 13, 18 and 23). Arguments after it
// are ignored, as SmartOS ignores them.
func oneUUID(cmd string, args []string) (string, error) {
	if len(args) == 0 || !node.ValidUUID(args[0]) {
		return "", usageError{"Invalid or missing UUID for " + cmd}
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

// validate checks a payload without acting on it. As SmartOS's, it
// reports on stderr: the VALID message, or the JSON error object (exit 1).
func (c *cli) validate(args []string) error {
	file, rest, err := flagF(args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0 || (rest[0] != "create" && rest[0] != "update"):
		return usageError{"Will not validate without a valid action."}
	case rest[0] == "update" && len(rest) != 2:
		return usageError{"Will not validate without a valid action and brand."}
	}
	payload, err := c.readPayload(file, "validate")
	if err != nil {
		return err
	}
	action, brand := rest[0], ""
	switch action {
	case "create":
		err = c.validateCreate(payload)
		brand = payloadBrand(payload)
	default:
		brand = rest[1]
		err = vm.ValidateUpdate(brand, payload)
	}
	if err != nil {
		var ve *vm.ValidationError
		if errors.As(err, &ve) {
			b, _ := json.MarshalIndent(ve, "", "  ")
			return errors.New(string(b))
		}
		return err
	}
	fmt.Fprintln(c.env.Stderr, vm.ValidMessage(action, brand))
	return nil
}

// validateCreate is vm.ValidateCreate plus what SmartOS checks on the
// node: the image must be installed and the pool must exist (else
// bad_values image_uuid or zpool).
func (c *cli) validateCreate(payload []byte) error {
	err := vm.ValidateCreate(payload)
	var ve *vm.ValidationError
	if err != nil && (!errors.As(err, &ve) || ve.BadBrand != "") {
		return err
	}
	var p struct {
		ImageUUID any `json:"image_uuid"`
		Zpool     any `json:"zpool"`
	}
	_ = json.Unmarshal(payload, &p)
	var bad []string
	if img, ok := p.ImageUUID.(string); ok && vm.IsUUID(img) {
		installed, ierr := c.imageInstalled(img)
		if ierr != nil {
			return ierr
		}
		if !installed {
			bad = append(bad, "image_uuid")
		}
	}
	if pool, ok := p.Zpool.(string); ok && pool != node.PoolName {
		bad = append(bad, "zpool")
	}
	if len(bad) == 0 {
		return err
	}
	if ve == nil {
		ve = &vm.ValidationError{}
	}
	for _, b := range bad {
		if !slices.Contains(ve.BadValues, b) {
			ve.BadValues = append(ve.BadValues, b)
		}
	}
	return ve
}

// imageInstalled reports whether the node has an image.
func (c *cli) imageInstalled(uuid string) (bool, error) {
	if c.env.ImageInstalled != nil {
		return c.env.ImageInstalled(uuid)
	}
	n, err := c.node()
	if err != nil {
		return false, err
	}
	_, err = n.Images.Get(uuid)
	if errors.Is(err, image.ErrNotInstalled) {
		return false, nil
	}
	return err == nil, err
}

// payloadBrand is the payload's brand as SmartOS's message prints it.
func payloadBrand(b []byte) string {
	var p struct{ Brand any }
	_ = json.Unmarshal(b, &p)
	if s, ok := p.Brand.(string); ok {
		return s
	}
	return "undefined"
}

func (c *cli) get(args []string) error {
	uuid, err := oneUUID("get", args)
	if err != nil {
		return err
	}
	n, err := c.view()
	if err != nil {
		return err
	}
	v, err := n.GetShown(uuid)
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

// start boots a VM. SmartOS's extra arguments (order=, cdrom=, disk=)
// are for HVM VMs, which this node does not run.
func (c *cli) start(args []string) error {
	uuid, err := oneUUID("start", args)
	if err != nil {
		return err
	}
	for _, a := range args[1:] {
		k, _, _ := strings.Cut(a, "=")
		return usageError{"Invalid argument to start: " + k}
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
		// Nothing to do: SmartOS says so and exits 0.
		fmt.Fprintf(c.env.Stderr, "Unable to start VM %s: VM %s is already 'running'\n", uuid, uuid)
		return nil
	}
	if err != nil {
		return fmt.Errorf("Unable to start VM %s: %w", uuid, err)
	}
	fmt.Fprintf(c.env.Stderr, "Successfully started VM %s\n", uuid)
	return nil
}

// stop runs stop/halt and reboot (-F forced, -t timeout in seconds).
func (c *cli) stop(args []string, action string) error {
	var force bool
	var timeout time.Duration
	var pos []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-F", "--force":
			force = true
		case "-t", "--timeout":
			if action == "reboot" {
				return usageError{"Unknown option: -t"}
			}
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
			if strings.HasPrefix(args[i], "-") {
				return usageError{"Unknown option: " + args[i]}
			}
			pos = append(pos, args[i])
		}
	}
	uuid, err := oneUUID(action, pos)
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
		// Nothing to do: SmartOS says so and exits 0.
		fmt.Fprintf(c.env.Stderr, "VM %s is already not 'running' (currently: %s)\n", uuid, c.stateOf(uuid))
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Successfully completed %s for VM %s\n", action, uuid)
	return nil
}

// get1 reads one VM object.
func (c *cli) get1(uuid string) (*vm.VM, error) {
	n, err := c.view()
	if err != nil {
		return nil, err
	}
	return n.Get(uuid)
}

// stateOf is a VM's state for a message ("stopped" if it cannot be read).
func (c *cli) stateOf(uuid string) string {
	if n, err := c.view(); err == nil {
		if v, err := n.Get(uuid); err == nil {
			return v.State
		}
	}
	return "stopped"
}

// kill signals the zone's init: `kill <uuid>` (SIGTERM), `kill -s SIG
// <uuid>` or `kill -SIG <uuid>`. The message names the signal as given.
func (c *cli) kill(args []string) error {
	signal := "SIGTERM"
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-s" || a == "--signal":
			if i+1 >= len(args) {
				return usageError{"Invalid or missing argument UUID"}
			}
			signal = args[i+1]
			i++
		case strings.HasPrefix(a, "-") && len(a) > 1:
			signal = a[1:]
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) > 1 {
		return usageError{"Too many arguments."}
	}
	if len(pos) == 0 || !vm.IsUUID(pos[0]) {
		return usageError{"Invalid or missing argument UUID"}
	}
	uuid := pos[0]
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	n, err := c.node()
	if err != nil {
		return err
	}
	if err := n.Kill(c.ctx, uuid, sig); err != nil {
		if errors.Is(err, node.ErrNotRunning) {
			return fmt.Errorf("Cannot find running init PID for VM %s", uuid)
		}
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Sent signal %q to init process for VM %s\n", signal, uuid)
	return nil
}

// parseSignal reads a signal as SmartOS does: a number, a name (HUP) or
// a SIG-prefixed name (SIGHUP), names in upper case.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && strconv.Itoa(n) == s {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("Unknown signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	name := s
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("Unknown signal %q", s)
	}
	return sig, nil
}

func (c *cli) update(args []string) error {
	file, rest, err := flagF(args)
	if err != nil {
		return err
	}
	uuid, err := oneUUID("update", rest)
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
			return usageError{err.Error()}
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
	uuid, err := oneUUID("delete", args)
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
		return fmt.Errorf("Failed to delete VM %s: %w", uuid, err)
	}
	fmt.Fprintf(c.env.Stderr, "Successfully deleted VM %s\n", uuid)
	return nil
}
