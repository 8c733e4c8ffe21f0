package vmadm

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"

	"hull/internal/node"
)

// snapshotArgs takes "<uuid> <snapname>", with SmartOS's usage messages.
func snapshotArgs(cmd string, args []string) (uuid, name string, err error) {
	if _, err := oneUUID(cmd, args); err != nil {
		return "", "", err
	}
	if len(args) != 2 {
		return "", "", usageError{fmt.Sprintf("Wrong number of parameters to %q", cmd)}
	}
	return args[0], args[1], nil
}

// snapshot runs create-snapshot, delete-snapshot and rollback-snapshot.
func (c *cli) snapshot(cmd string, args []string) error {
	uuid, name, err := snapshotArgs(cmd, args)
	if err != nil {
		return err
	}
	// Bad names are refused before the node is touched, as SmartOS does.
	if !node.ValidSnapName(name) {
		return node.ErrInvalidSnapName
	}
	n, err := c.node()
	if err != nil {
		return err
	}
	var done string
	switch cmd {
	case "create-snapshot":
		err, done = n.CreateSnapshot(c.ctx, uuid, name), "Created snapshot %s for VM %s"
	case "delete-snapshot":
		err, done = n.DeleteSnapshot(c.ctx, uuid, name), "Deleted snapshot %s for VM %s"
	case "rollback-snapshot":
		err, done = n.RollbackSnapshot(c.ctx, uuid, name), "Rolled back snapshot %s for VM %s"
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, done+"\n", name, uuid)
	return nil
}

// send writes the VM's stream to stdout, never to a terminal.
func (c *cli) send(args []string) error {
	// SmartOS's usage has an optional target; only stdout exists.
	if len(args) == 2 && args[1] == "-" {
		args = args[:1]
	}
	uuid, err := oneUUID("send", args)
	if err != nil {
		return err
	}
	if f, ok := c.env.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return errors.New("Cannot send VM to a TTY.")
	}
	n, err := c.node()
	if err != nil {
		return err
	}
	if err := n.Send(c.ctx, uuid, c.env.Stdout); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Successfully sent VM %s\n", uuid)
	return nil
}

// receive recreates a VM from a stream on stdin (-f is accepted and
// ignored, as SmartOS does).
func (c *cli) receive(args []string) error {
	_, rest, err := flagF(args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageError{"Unexpected arguments: " + fmt.Sprint(rest)}
	}
	if c.env.StdinIsTTY {
		return errors.New("Will not receive from stdin when stdin is a tty.")
	}
	n, err := c.node()
	if err != nil {
		return err
	}
	v, err := n.Receive(c.ctx, c.env.Stdin)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stderr, "Successfully received VM %s\n", v.UUID)
	return nil
}
