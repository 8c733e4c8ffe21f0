package contract

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// procStat is what /proc/<pid>/stat says about ancestry.
type procStat struct {
	ppid, pgid, sid int
	start           uint64
	zombie          bool
}

// readStat reads a process's ancestry from /proc.
func readStat(pid int) (procStat, bool) {
	var buf [512]byte
	b, ok := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", buf[:])
	if !ok {
		return procStat{}, false
	}
	return parseStat(b)
}

// parseStat parses a /proc/<pid>/stat line without allocating: the
// fields after the command name (which may hold spaces and parentheses)
// are state, ppid, pgrp, session, ..., and starttime is the 20th.
func parseStat(b []byte) (procStat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	var st procStat
	rest := b[i+1:]
	for field := 0; ; field++ {
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
		}
		if len(rest) == 0 || rest[0] == '\n' {
			return procStat{}, false
		}
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		f := rest[:end]
		rest = rest[end:]
		switch field {
		case 0:
			st.zombie = f[0] == 'Z' || f[0] == 'X'
		case 1:
			st.ppid = atoi(f)
		case 2:
			st.pgid = atoi(f)
		case 3:
			st.sid = atoi(f)
		case 19:
			st.start = uint64(atoi(f))
			return st, true
		}
	}
}

func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// readSmall reads a small /proc file into buf.
func readSmall(path string, buf []byte) ([]byte, bool) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	if err != nil || n <= 0 {
		return nil, false
	}
	return buf[:n], true
}

func allPids() []int {
	ents, _ := os.ReadDir("/proc")
	out := make([]int, 0, len(ents))
	for _, e := range ents {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// fullScanEvery bounds how long a tracker trusts its pid clock before
// looking at every process anyway.
const fullScanEvery = 10 * time.Second

// pidClock tells whether any process was created in this pid namespace
// since it last looked: the last field of /proc/loadavg is the most
// recently allocated pid of the reader's namespace. Scanning all of
// /proc only then keeps an idle zone's init idle.
//
// A pid is allocated a moment before its process shows in /proc, so a
// scan may miss the process that moved the clock; the caller tells
// (listed), and scans go on for missingFor while it stays missing (a
// process that already ended, or a thread, is never listed).
type pidClock struct {
	last         int
	lastFull     time.Time
	missingUntil time.Time // zero: the last pid was listed, or no scan yet
}

const missingFor = time.Second

// due reports whether a full scan is needed (scan: a new pid, an
// unreadable clock, the last pid still missing, or fullScanEvery
// passed; moved: a new pid or an unreadable clock) and, if so, records
// it as done now: the caller scans after the clock is read, so a
// process made during the scan moves the clock for the next call.
func (c *pidClock) due() (scan, moved bool) {
	var buf [128]byte
	now := time.Now()
	p := -1
	if b, ok := readSmall("/proc/loadavg", buf[:]); ok {
		b = bytes.TrimSpace(b)
		if k := bytes.LastIndexByte(b, ' '); k >= 0 {
			p = atoi(b[k+1:])
		}
	}
	moved = p < 0 || p != c.last
	if !moved && now.Sub(c.lastFull) < fullScanEvery && !now.Before(c.missingUntil) {
		return false, false
	}
	if moved {
		c.missingUntil = time.Time{}
	}
	c.last, c.lastFull = p, now
	return true, moved
}

// listed tells the clock whether the scan that followed due found the
// last pid's process.
func (c *pidClock) listed(found bool) {
	switch {
	case found:
		c.missingUntil = time.Time{}
	case c.missingUntil.IsZero():
		c.missingUntil = time.Now().Add(missingFor)
	}
}
