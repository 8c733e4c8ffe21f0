// Package stdiolog is the format of a docker zone's log, SmartOS's
// stdio.log (docker's json-file): one JSON object per line of output,
// {"log": the line, "stream": "stdout" or "stderr", "time": when}.
package stdiolog

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Entry is one entry: a line the program wrote, with its stream and
// when.
type Entry struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

// TimeFormat is the entries' time, UTC with nanoseconds, as SmartOS's
// zoneadmd writes it ("2018-03-28T13:25:02.670423000Z").
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// MaxLine is the longest entry: a longer line is logged in pieces of
// this size, as docker's json-file splits one.
const MaxLine = 16 << 10

// Log writes entries to a log, for any number of streams at once.
type Log struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	// Tee, if set, is given each entry too: its stream, the line
	// without its newline, and its time.
	Tee func(stream string, line []byte, at time.Time)
}

// New returns a Log writing to w.
func New(w io.Writer) *Log { return &Log{w: w, now: time.Now} }

// entry writes one entry; a failed write is dropped (the program goes
// on whether its log can be written or not).
func (l *Log) entry(stream string, line []byte) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	l.mu.Lock()
	defer l.mu.Unlock()
	at := l.now()
	_ = enc.Encode(Entry{Log: string(line), Stream: stream, Time: at.UTC().Format(TimeFormat)})
	_, _ = l.w.Write(buf.Bytes())
	if l.Tee != nil {
		l.Tee(stream, bytes.TrimSuffix(line, []byte("\n")), at)
	}
}

// Stream returns a writer of the named stream's output: each line
// written to it becomes an entry once its end is written; Close logs
// what is left of a last line without one.
func (l *Log) Stream(name string) *Stream { return &Stream{log: l, name: name} }

// Stream is one stream of a Log.
type Stream struct {
	log     *Log
	name    string
	partial []byte
}

func (s *Stream) Write(p []byte) (int, error) {
	lines(&s.partial, p, func(line []byte) error {
		for len(line) > MaxLine {
			s.log.entry(s.name, line[:MaxLine])
			line = line[MaxLine:]
		}
		s.log.entry(s.name, line)
		return nil
	})
	for len(s.partial) >= MaxLine {
		s.log.entry(s.name, s.partial[:MaxLine])
		s.partial = append(s.partial[:0], s.partial[MaxLine:]...)
	}
	return len(p), nil
}

// lines passes each line of p that ends in it, after the start of the
// first held in *partial, to emit, and keeps the rest in *partial. It
// returns how much of p was passed on when emit fails.
func lines(partial *[]byte, p []byte, emit func(line []byte) error) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			*partial = append(*partial, p...)
			break
		}
		line := p[:i+1]
		if len(*partial) > 0 {
			line = append(*partial, line...)
			*partial = (*partial)[:0]
		}
		if err := emit(line); err != nil {
			return n - len(p), err
		}
		p = p[i+1:]
	}
	return n, nil
}

// Close logs the rest of an unfinished line.
func (s *Stream) Close() error {
	if len(s.partial) > 0 {
		s.log.entry(s.name, s.partial)
		s.partial = nil
	}
	return nil
}

// Decoder turns a log, written to it, back into what the program wrote:
// the entries' text, in order, and a line that is not an entry (a
// message of the runtime's own) as it is. A line is passed on once its
// end is written.
type Decoder struct {
	w       io.Writer
	partial []byte
}

// NewDecoder returns a Decoder writing to w.
func NewDecoder(w io.Writer) *Decoder { return &Decoder{w: w} }

func (d *Decoder) Write(p []byte) (int, error) {
	return lines(&d.partial, p, d.line)
}

func (d *Decoder) line(line []byte) error {
	var e Entry
	if line[0] == '{' && json.Unmarshal(line, &e) == nil && e.Stream != "" {
		_, err := io.WriteString(d.w, e.Log)
		return err
	}
	_, err := d.w.Write(line)
	return err
}

// Flush passes on a last line without an end.
func (d *Decoder) Flush() error {
	if len(d.partial) == 0 {
		return nil
	}
	err := d.line(d.partial)
	d.partial = d.partial[:0]
	return err
}

// Decode is what the program wrote, from a whole log.
func Decode(log []byte) string {
	var b bytes.Buffer
	d := NewDecoder(&b)
	d.Write(log)
	d.Flush()
	return b.String()
}
