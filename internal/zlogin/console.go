package zlogin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"hull/internal/node"
	"hull/internal/stdiolog"
	"hull/internal/zone"
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
	// A docker zone's log is its program's output in SmartOS's
	// stdio.log form: the console shows the text.
	docker := false
	if v, err := n.Get(uuid); err == nil && zone.IsDocker(v) {
		docker = true
	}
	partial := false // the log is read from within a line
	if st, err := logf.Stat(); err == nil && st.Size() > tailBytes {
		logf.Seek(-tailBytes, io.SeekEnd)
		partial = docker
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
	out := stdout
	if raw {
		out = onlcrWriter{stdout}
	}
	var dec *stdiolog.Decoder
	if docker {
		dec = stdiolog.NewDecoder(out)
		out = dec
	}
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
		b := buf[:k]
		if partial {
			// The tail's first entry is cut: it starts after it.
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				b, partial = b[i+1:], false
			} else {
				b = nil
			}
		}
		if len(b) > 0 {
			out.Write(b)
		}
		if err == io.EOF {
			// A rotated log starts again from the top.
			if st, e := os.Stat(n.ConsoleLog(uuid)); e == nil {
				if pos, _ := logf.Seek(0, io.SeekCurrent); st.Size() < pos {
					logf.Seek(0, io.SeekStart)
					if dec != nil {
						dec.Flush()
					}
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

// onlcrWriter writes through onlcr.
type onlcrWriter struct{ w io.Writer }

func (o onlcrWriter) Write(b []byte) (int, error) {
	if _, err := o.w.Write(onlcr(b)); err != nil {
		return 0, err
	}
	return len(b), nil
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
