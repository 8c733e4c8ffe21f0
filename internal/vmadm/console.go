package vmadm

import (
	"os"

	"hull/internal/zlogin"
)

func (c *cli) console(args []string) error {
	uuid, err := oneUUID("console", args)
	if err != nil {
		return err
	}
	n, err := c.node()
	if err != nil {
		return err
	}
	in, ok := c.env.Stdin.(*os.File)
	if !ok {
		in = os.Stdin
	}
	v, err := n.Get(uuid)
	if err != nil {
		return err
	}
	return zlogin.Console(n, uuid, in, c.env.Stdout, zlogin.ConsoleOptions{Name: v.Zonename})
}
