package restarter

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

func syscallKill(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

// alive tells whether pid runs: a zombie, dead but not yet reaped, does
// not.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which ends with the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

func dumpLog(e *env, fmri string) string {
	s := e.status(fmri)
	b, _ := os.ReadFile(s.Log)
	return string(b)
}
