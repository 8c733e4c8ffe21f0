// Package journal makes multi-step operations all-or-nothing, across
// crashes. Each step records its undo as data (a kind and arguments) in a
// small file before the next step runs; success removes the file. A
// process that finds a journal whose owner is gone (its lock is free) runs
// the undos in reverse, so a kill -9 at any point leaves things whole or
// gone.
package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Step is one recorded undo: a kind that names a registered handler, and
// its arguments.
type Step struct {
	Kind string   `json:"kind"`
	Args []string `json:"args,omitempty"`
}

// Record is what a journal file holds.
type Record struct {
	ID      string    `json:"id"`
	Op      string    `json:"op"`
	Subject string    `json:"subject"`
	Started time.Time `json:"started"`
	PID     int       `json:"pid"`
	// Forward ops (delete) are finished, not undone, on recovery.
	Forward bool   `json:"forward,omitempty"`
	Undo    []Step `json:"undo"`
}

// Handler undoes one step. It must be idempotent: recovery may run a step
// whose effect was already undone, or never happened.
type Handler func(args []string) error

// Journal is a directory of in-flight operations.
type Journal struct {
	dir      string
	handlers map[string]Handler
}

// Open uses dir (created if needed) for journal files.
func Open(dir string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Journal{dir: dir, handlers: map[string]Handler{}}, nil
}

// Handle registers the undo handler for a kind of step.
func (j *Journal) Handle(kind string, h Handler) { j.handlers[kind] = h }

// Op is one operation in flight. It holds an exclusive lock on its file so
// that others can tell it is alive.
type Op struct {
	j    *Journal
	f    *os.File
	path string
	rec  Record
	done bool
}

// newPrefix names a journal file not yet locked by its operation.
const newPrefix = ".new-"

// Begin starts an operation on a subject (a VM uuid), with the undos of
// steps it is about to take (see UndoSteps) recorded in the same write.
func (j *Journal) Begin(op, subject string, undo ...Step) (*Op, error) {
	for _, st := range undo {
		if _, ok := j.handlers[st.Kind]; !ok {
			return nil, fmt.Errorf("journal: no handler for %q", st.Kind)
		}
	}
	id := fmt.Sprintf("%d-%s-%s", time.Now().UnixNano(), op, subject)
	p := filepath.Join(j.dir, id+".json")
	// The file is made and locked under a name recovery passes over,
	// and only then given its own: a recovering process must never find
	// it unlocked, which it would be between its creation and its lock.
	tmp := filepath.Join(j.dir, newPrefix+id)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal %s %s: %w", op, subject, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("journal lock %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("journal %s %s: %w", op, subject, err)
	}
	o := &Op{j: j, f: f, path: p, rec: Record{ID: id, Op: op, Subject: subject, Started: time.Now().UTC(), PID: os.Getpid(), Undo: undo}}
	if err := o.write(); err != nil {
		o.release()
		return nil, err
	}
	return o, nil
}

// Forward marks the operation as one that recovery finishes, and records
// steps with it in the same durable write: what finishing needs is on
// record from the moment recovery would finish rather than undo. Steps
// recorded before stay, as a record; they are no longer undone.
func (o *Op) Forward(steps ...Step) error {
	if _, err := o.add(steps); err != nil {
		return err
	}
	o.rec.Forward = true
	return o.write()
}

// Record is the journal entry as written so far.
func (o *Op) Record() Record { return o.rec }

// Undo records how to undo the step just done. It is durable when it
// returns.
func (o *Op) Undo(kind string, args ...string) error {
	return o.UndoSteps(Step{Kind: kind, Args: args})
}

// UndoSteps records several undos with one durable write. Registering
// the undos of steps not done yet is how an operation saves writes: each
// handler must treat "nothing to undo" as done. A step already recorded
// is not recorded twice.
func (o *Op) UndoSteps(steps ...Step) error {
	added, err := o.add(steps)
	if err != nil || !added {
		return err
	}
	return o.write()
}

// add appends to the record the steps it does not hold yet, telling
// whether there were any; a kind without a handler is refused.
func (o *Op) add(steps []Step) (bool, error) {
	added := false
	for _, st := range steps {
		if _, ok := o.j.handlers[st.Kind]; !ok {
			return added, fmt.Errorf("journal: no handler for %q", st.Kind)
		}
		if !o.has(st) {
			o.rec.Undo = append(o.rec.Undo, st)
			added = true
		}
	}
	return added, nil
}

func (o *Op) has(st Step) bool {
	for _, u := range o.rec.Undo {
		if u.Kind == st.Kind && slices.Equal(u.Args, st.Args) {
			return true
		}
	}
	return false
}

// write replaces the file's content in place (the lock is on the open
// file, so it cannot be replaced by rename) and syncs it.
func (o *Op) write() error {
	b, err := json.Marshal(o.rec)
	if err != nil {
		return err
	}
	// A record only grows, so a torn write leaves a longer valid prefix
	// or invalid JSON; recovery treats invalid JSON as "nothing to undo
	// beyond what the subject's reconcile finds".
	if _, err := o.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("journal write: %w", err)
	}
	if err := o.f.Truncate(int64(len(b))); err != nil {
		return fmt.Errorf("journal write: %w", err)
	}
	return o.f.Sync()
}

// Commit ends the operation successfully: its undos are dropped.
func (o *Op) Commit() error {
	if o.done {
		return nil
	}
	o.done = true
	return o.release()
}

// Rollback runs the recorded undos in reverse and ends the operation. It
// is safe to call after Commit (it then does nothing), so callers can
// `defer op.Rollback()`. A forward operation is not undone: it is left,
// unlocked, for recovery to finish.
func (o *Op) Rollback() error {
	if o.done {
		return nil
	}
	o.done = true
	if o.rec.Forward {
		return o.f.Close()
	}
	err := o.j.undo(o.rec)
	if err != nil {
		// Keep the file so a later recovery retries; drop our lock.
		o.f.Close()
		return err
	}
	return o.release()
}

func (o *Op) release() error {
	err := os.Remove(o.path)
	o.f.Close()
	return err
}

func (j *Journal) undo(rec Record) error {
	var errs []error
	for i := len(rec.Undo) - 1; i >= 0; i-- {
		s := rec.Undo[i]
		h := j.handlers[s.Kind]
		if h == nil {
			errs = append(errs, fmt.Errorf("undo %s: no handler", s.Kind))
			continue
		}
		if err := h(s.Args); err != nil {
			errs = append(errs, fmt.Errorf("undo %s %s: %w", s.Kind, strings.Join(s.Args, " "), err))
		}
	}
	return errors.Join(errs...)
}

// Flight is an operation in flight: its name and when it began.
type Flight struct {
	Op      string
	Started time.Time
}

// InFlight lists the operations recorded in dir, in flight or left by a
// process that died and not yet recovered: subject → operation, the
// newest where a subject has several. It reads the files' names only
// (id: <nanoseconds>-<op>-<subject>), so it costs one directory read.
func InFlight(dir string) (map[string]Flight, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	out := map[string]Flight{}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(id, newPrefix) {
			continue
		}
		// The subject is a uuid (36 characters); the op's name may
		// hold dashes.
		stamp, rest, ok := strings.Cut(id, "-")
		t, err := strconv.ParseInt(stamp, 10, 64)
		if !ok || err != nil || len(rest) < 38 || rest[len(rest)-37] != '-' {
			continue
		}
		op, subject := rest[:len(rest)-37], rest[len(rest)-36:]
		started := time.Unix(0, t)
		if f, seen := out[subject]; !seen || started.After(f.Started) {
			out[subject] = Flight{op, started}
		}
	}
	return out, nil
}

// Recover finds operations whose owner died and undoes them (or, for
// forward operations, hands them to finish). It returns the records it
// handled. Operations still owned by a live process are left alone.
func (j *Journal) Recover(finish func(Record) error) ([]Record, error) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), newPrefix):
			j.removeUnborn(filepath.Join(j.dir, e.Name()))
		case strings.HasSuffix(e.Name(), ".json"):
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var done []Record
	var errs []error
	for _, n := range names {
		p := filepath.Join(j.dir, n)
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			continue // finished meanwhile
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			f.Close() // owner alive
			continue
		}
		if st, err := f.Stat(); err != nil || st.Sys().(*syscall.Stat_t).Nlink == 0 {
			f.Close() // committed between the open and the lock
			continue
		}
		b, _ := io.ReadAll(f)
		var rec Record
		if json.Unmarshal(b, &rec) != nil {
			// Torn before the first record landed: nothing was done
			// that the record could name.
			rec = Record{ID: strings.TrimSuffix(n, ".json")}
		}
		var rerr error
		if rec.Forward && finish != nil {
			rerr = finish(rec)
		} else {
			rerr = j.undo(rec)
		}
		if rerr != nil {
			errs = append(errs, fmt.Errorf("recover %s: %w", rec.ID, rerr))
			f.Close()
			continue
		}
		os.Remove(p)
		f.Close()
		done = append(done, rec)
	}
	return done, errors.Join(errs...)
}

// removeUnborn removes a file whose operation died in Begin, before its
// record existed (so before it did anything). Begin holds such a file for
// microseconds, the first of them unlocked: only one older than a minute
// and not locked is gone for good.
func (j *Journal) removeUnborn(p string) {
	f, err := os.Open(p)
	if err != nil {
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || time.Since(st.ModTime()) < time.Minute {
		return
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		os.Remove(p)
	}
}
