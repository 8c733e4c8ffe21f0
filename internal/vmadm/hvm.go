package vmadm

import (
	"errors"
	"fmt"
	"slices"
)

// sysrqTypes are the requests SmartOS's sysrq knows (for kvm and bhyve).
var sysrqTypes = []string{"nmi", "screenshot"}

// info is SmartOS's `vmadm info <uuid> [type,...]`: runtime information
// from a hardware VM's hypervisor. Zones have none, so for them it fails
// with SmartOS's messages: the state first, then the brand.
func (c *cli) info(args []string) error {
	uuid, err := oneUUID("info", args)
	if err != nil {
		return err
	}
	v, err := c.get1(uuid)
	if err != nil {
		return fmt.Errorf("Unable to get VM info for VM %s: %w", uuid, err)
	}
	if v.State != "running" && v.State != "stopping" {
		return fmt.Errorf("Unable to get VM info for VM %s: Unable to get info for vm from state %q, must be \"running\" or \"stopping\".", uuid, v.State)
	}
	return fmt.Errorf("Unable to get VM info for VM %s: no info types supported for brand %s", uuid, v.Brand)
}

// sysrq is SmartOS's `vmadm sysrq <uuid> nmi|screenshot`, for kvm and
// bhyve only.
func (c *cli) sysrq(args []string) error {
	uuid, err := oneUUID("sysrq", args)
	if err != nil {
		return err
	}
	if len(args) != 2 {
		return usageError{`Wrong number of parameters to "sysrq"`}
	}
	if !slices.Contains(sysrqTypes, args[1]) {
		return usageError{"Invalid sysrq type: " + args[1]}
	}
	v, err := c.get1(uuid)
	if err != nil {
		return err
	}
	if v.State != "running" && v.State != "stopping" {
		return fmt.Errorf("Unable to send request to vm from state %q, must be \"running\" or \"stopping\".", v.State)
	}
	// SmartOS's message, double space included.
	return errors.New(`The sysrq command is only supported for VMs  with brand "bhyve" or "kvm".`)
}
