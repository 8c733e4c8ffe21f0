package zlogin

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"hull/internal/node"
)

// tailBytes is how much earlier console output an attach shows.
const tailBytes = 4096

// ConsoleOptions shape a console session.
type ConsoleOptions struct {
	// Name is the zone's name in the banners (default: the uuid).
	Name string
	// Quiet leaves out the connect and disconnect banners (zlogin -Q).
	Quiet bool
	// Escape is the escape character (default ~); NoEscape turns the
	// escapes off (zlogin -E), so only the end of input detaches.
	Escape   byte
	NoEscape bool
}

// Console attaches to a zone's console: it shows recent output and
// follows it, and sends what is typed to the zone's console input. The
// escape character then "." (or CTRL-D) at the start of a line, or
// CTRL-], detaches.
func Console(n *node.Node, uuid string, stdin *os.File, stdout io.Writer, o ConsoleOptions) error {
	if o.Name == "" {
		o.Name = uuid
	}
	if o.Escape == 0 {
		o.Escape = '~'
	}
	logf, err := os.Open(n.ConsoleLog(uuid))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("zone %s has no console yet: boot it first", uuid)
	}
	if err != nil {
		return err
	}
	defer logf.Close()
	if st, err := logf.Stat(); err == nil && st.Size() > tailBytes {
		logf.Seek(-tailBytes, io.SeekEnd)
	}
	if !o.Quiet {
		fmt.Fprintf(stdout, "[Connected to zone '%s' console]\n", o.Name)
	}
	done := make(chan struct{})
	// The zone's console is a pipe, not a terminal: with the local
	// terminal raw, zlogin does the line discipline's two translations
	// itself (Enter sends "\n", "\n" shows as a new line).
	raw := false
	if term.IsTerminal(int(stdin.Fd())) {
		if old, err := term.MakeRaw(int(stdin.Fd())); err == nil {
			defer term.Restore(int(stdin.Fd()), old)
			raw = true
		}
	}
	go func() {
		defer close(done)
		in, err := os.OpenFile(n.ConsoleInput(uuid), os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer in.Close()
		esc := int(o.Escape)
		if o.NoEscape {
			esc = -1
		}
		if forwardInput(stdin, in, raw, esc) {
			// Show the escape that was typed, as zlogin does.
			fmt.Fprintf(stdout, "%c.", o.Escape)
		}
	}()
	buf := make([]byte, 32*1024)
	for {
		select {
		case <-done:
			if !o.Quiet {
				fmt.Fprintf(stdout, "\r\n[Connection to zone '%s' console closed]\r\n", o.Name)
			}
			return nil
		default:
		}
		k, err := logf.Read(buf)
		if k > 0 {
			if raw {
				stdout.Write(onlcr(buf[:k]))
			} else {
				stdout.Write(buf[:k])
			}
		}
		if err == io.EOF {
			// A rotated log starts again from the top.
			if st, e := os.Stat(n.ConsoleLog(uuid)); e == nil {
				if pos, _ := logf.Seek(0, io.SeekCurrent); st.Size() < pos {
					logf.Seek(0, io.SeekStart)
				}
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
	}
}

// onlcr turns bare "\n" into "\r\n", as a terminal's output processing
// would.
func onlcr(b []byte) []byte {
	out := make([]byte, 0, len(b)+16)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// forwardInput copies keystrokes to the console until the input ends or
// the user detaches, which it reports: esc (a byte; -1 for none) then
// "." or CTRL-D at the start of a line, or CTRL-] when escapes are on.
// As illumos's zlogin, an escape followed by anything else sends only
// that; a line starts after Enter, CTRL-U, CTRL-Z or CTRL-C. With icrnl,
// Enter ("\r") is sent as "\n".
func forwardInput(r io.Reader, w io.Writer, icrnl bool, esc int) (detached bool) {
	buf := make([]byte, 256)
	lineStart, escaped := true, false
	for {
		k, err := r.Read(buf)
		for _, b := range buf[:k] {
			switch {
			case esc >= 0 && b == 0x1d:
				return true
			case escaped:
				escaped = false
				if b == '.' || b == 0x04 {
					return true
				}
			case lineStart && esc >= 0 && int(b) == esc:
				lineStart, escaped = false, true
				continue
			}
			lineStart = b == '\r' || b == '\n' || b == 0x15 || b == 0x1a || b == 0x03
			if icrnl && b == '\r' {
				b = '\n'
			}
			w.Write([]byte{b})
		}
		if err != nil {
			return false
		}
	}
}
