package stdiolog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestStreams(t *testing.T) {
	at := time.Date(2018, 3, 28, 13, 25, 2, 670423000, time.UTC)
	long := strings.Repeat("x", MaxLine+10)
	tests := []struct {
		name   string
		writes []string // to stdout; "2:" first writes to stderr
		want   []Entry  // times left out
	}{
		{"lines", []string{"a\nb\n"}, []Entry{{Log: "a\n", Stream: "stdout"}, {Log: "b\n", Stream: "stdout"}}},
		{"a line in pieces", []string{"he", "llo", " world\nnext"}, []Entry{{Log: "hello world\n", Stream: "stdout"}, {Log: "next", Stream: "stdout"}}},
		{"streams", []string{"out\n", "2:err\n", "out2\n"}, []Entry{{Log: "out\n", Stream: "stdout"}, {Log: "err\n", Stream: "stderr"}, {Log: "out2\n", Stream: "stdout"}}},
		{"escapes", []string{"<tab>\t\"q\" \x01\r\n"}, []Entry{{Log: "<tab>\t\"q\" \x01\r\n", Stream: "stdout"}}},
		{"a long line", []string{long + "\n"}, []Entry{{Log: long[:MaxLine], Stream: "stdout"}, {Log: long[MaxLine:] + "\n", Stream: "stdout"}}},
		{"a long line in pieces", []string{long[:10], long[10:], "\n"}, []Entry{{Log: long[:MaxLine], Stream: "stdout"}, {Log: long[MaxLine:] + "\n", Stream: "stdout"}}},
		{"no end", []string{"last"}, []Entry{{Log: "last", Stream: "stdout"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := New(&buf)
			l.now = func() time.Time { return at }
			out, errs := l.Stream("stdout"), l.Stream("stderr")
			for _, w := range tt.writes {
				if s, ok := strings.CutPrefix(w, "2:"); ok {
					errs.Write([]byte(s))
				} else {
					out.Write([]byte(w))
				}
			}
			out.Close()
			errs.Close()
			lines := strings.SplitAfter(buf.String(), "\n")
			if lines[len(lines)-1] != "" {
				t.Fatalf("log does not end a line: %q", buf.String())
			}
			lines = lines[:len(lines)-1]
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d entries, want %d: %q", len(lines), len(tt.want), buf.String())
			}
			for i, line := range lines {
				var e Entry
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("entry %d: %v: %q", i, err, line)
				}
				want := tt.want[i]
				want.Time = "2018-03-28T13:25:02.670423000Z"
				if e != want {
					t.Errorf("entry %d: %+v, want %+v", i, e, want)
				}
			}
			var text strings.Builder
			for _, e := range tt.want {
				text.WriteString(e.Log)
			}
			if got := Decode(buf.Bytes()); got != text.String() {
				t.Errorf("decoded %q, want %q", got, text.String())
			}
		})
	}
}

func TestEntryForm(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf)
	l.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)) }
	l.Stream("stderr").Write([]byte("a <b> & c\n"))
	want := `{"log":"a <b> & c\n","stream":"stderr","time":"2026-01-02T02:04:05.000000000Z"}` + "\n"
	if buf.String() != want {
		t.Errorf("entry %s, want %s", buf.String(), want)
	}
}

func TestDecoder(t *testing.T) {
	log := `{"log":"one\n","stream":"stdout","time":"t"}` + "\n" +
		"runtime said this\n" +
		`{"log":"two","stream":"stderr","time":"t"}` + "\n" +
		`{"not":"an entry"}` + "\n" +
		`{"log":"three\n","stream":"stdout","time":"t"}`
	want := "one\nruntime said this\ntwo{\"not\":\"an entry\"}\nthree\n"
	// Whole, and a byte at a time: lines are passed on only when whole.
	if got := Decode([]byte(log)); got != want {
		t.Errorf("Decode: %q, want %q", got, want)
	}
	var b strings.Builder
	d := NewDecoder(&b)
	for i := range len(log) {
		d.Write([]byte{log[i]})
	}
	if got := b.String(); got != strings.TrimSuffix(want, "three\n") {
		t.Errorf("before Flush: %q", got)
	}
	d.Flush()
	if got := b.String(); got != want {
		t.Errorf("byte by byte: %q, want %q", got, want)
	}
}
