package restarter

import (
	"os"
	"syscall"
)

func syscallKill(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func dumpLog(e *env, fmri string) string {
	s := e.status(fmri)
	b, _ := os.ReadFile(s.Log)
	return string(b)
}
