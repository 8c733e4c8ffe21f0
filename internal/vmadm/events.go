package vmadm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"hull/internal/node"
)

// events streams the node's events, as vmadm events does: one line per
// event (or per change of a modify event), or JSON with -j.
func (c *cli) events(args []string) error {
	var full, asJSON, ready bool
	var pos []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			for _, f := range a[1:] {
				switch f {
				case 'f':
					full = true
				case 'j':
					asJSON = true
				case 'r':
					ready = true
				default:
					return usageError{fmt.Sprintf("Unknown option: -%c", f)}
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) > 1 {
		return usageError{"events takes at most one uuid"}
	}
	filter := ""
	if len(pos) == 1 {
		if !node.ValidUUID(pos[0]) {
			return usageError{fmt.Sprintf("Invalid UUID: %s", pos[0])}
		}
		filter = pos[0]
	}
	n, err := c.node()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(n.EventLog(), os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	// Only new events: start at the end, as a stream does.
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	if ready {
		e := node.Event{Type: "ready", Date: time.Now().UTC().Format(time.RFC3339Nano)}
		c.printEvent(e, full, asJSON)
	}
	r := bufio.NewReader(f)
	var partial string
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			partial += line
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		line, partial = partial+line, ""
		var e node.Event
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		if filter != "" && e.UUID != filter {
			continue
		}
		c.printEvent(e, full, asJSON)
	}
}

// printEvent writes one event: `[HH:MM:SS.mmmZ] <uuid-prefix> <alias> <type>`.
func (c *cli) printEvent(e node.Event, full, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(e)
		fmt.Fprintln(c.env.Stdout, string(b))
		return
	}
	t, _ := time.Parse(time.RFC3339Nano, e.Date)
	stamp := t.UTC().Format("15:04:05.000Z")
	id, alias := e.UUID, e.Alias
	if full {
		stamp = t.UTC().Format("2006-01-02T15:04:05.000Z")
	} else {
		if len(id) > 8 {
			id = id[:8]
		}
		if len(alias) > 30 {
			alias = alias[:30]
		}
	}
	if alias == "" {
		alias = "-"
	}
	head := fmt.Sprintf("[%s] %s %s %s", stamp, id, alias, e.Type)
	if e.Type == "ready" {
		fmt.Fprintf(c.env.Stdout, "[%s] ready\n", stamp)
		return
	}
	if e.Type != "modify" || len(e.Changes) == 0 {
		fmt.Fprintln(c.env.Stdout, head)
		return
	}
	for _, ch := range e.Changes {
		old, _ := json.Marshal(ch.Old)
		nw, _ := json.Marshal(ch.New)
		fmt.Fprintf(c.env.Stdout, "%s: %s %s :: %s -> %s\n", head, ch.Path, ch.Action, old, nw)
	}
}
