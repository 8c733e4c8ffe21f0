package vmadm

import (
	"fmt"

	"hull/internal/vm"
)

// reprovision gives an OS VM a fresh root from the payload's image_uuid
// (read from -f file or stdin, never a terminal), as SmartOS's does;
// through hulld when it runs.
func (c *cli) reprovision(args []string) error {
	file, rest, err := flagF(args)
	if err != nil {
		return err
	}
	uuid, err := oneUUID("reprovision", rest)
	if err != nil {
		return err
	}
	payload, err := c.readPayload(file, "take payload")
	if err != nil {
		return err
	}
	img, err := vm.ReprovisionImage(payload)
	if err != nil {
		return err
	}
	if d := c.daemon(); d != nil {
		_, err = d.Action(uuid, "reprovision", false, 0, payload)
	} else {
		n, nerr := c.node()
		if nerr != nil {
			return nerr
		}
		err = n.Reprovision(c.ctx, uuid, img)
	}
	if err != nil {
		return fmt.Errorf("Failed to reprovision VM %s: %w", uuid, err)
	}
	fmt.Fprintf(c.env.Stderr, "Successfully reprovisioned VM %s\n", uuid)
	return nil
}
