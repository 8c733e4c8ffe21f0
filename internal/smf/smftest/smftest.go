// Package smftest holds what SMF's tests share.
package smftest

import (
	"os"
	"strconv"
	"strings"
)

// Zombies lists the zombie children of a process (host pids).
func Zombies(ppid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) && f[0] == "Z" {
			p, _ := strconv.Atoi(e.Name())
			out = append(out, p)
		}
	}
	return out
}
