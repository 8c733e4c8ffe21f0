package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hull/internal/atomicfile"
	"hull/internal/pool"
)

// DefaultPool is the pool images live in unless told otherwise.
const DefaultPool = "zones"

// FinalSnapshot is the one snapshot of an installed image; zones and child
// images clone it.
const FinalSnapshot = "final"

// SnapshotName is the snapshot zones clone for an image in the default
// pool: "zones/<uuid>@final".
func SnapshotName(uuid string) string {
	return DefaultPool + "/" + uuid + "@" + FinalSnapshot
}

// Errors callers tell apart with errors.Is.
var (
	ErrNotInstalled     = errors.New("image is not installed")
	ErrAlreadyInstalled = errors.New("image is already installed")
	// ErrFileCorrupt: the image file's size or sha1 is not the manifest's.
	ErrFileCorrupt = errors.New("image file does not match its manifest")
)

type fileError struct{ msg string }

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return ErrFileCorrupt }

// NotInstalledError says an image is not in the pool. Its text is
// SmartOS's (imgadm exits 3 on it).
type NotInstalledError struct {
	UUID, Zpool string
}

func (e *NotInstalledError) Error() string {
	return fmt.Sprintf("image %q was not found on zpool %q", e.UUID, e.Zpool)
}

func (e *NotInstalledError) Unwrap() error { return ErrNotInstalled }

// AlreadyInstalledError is returned by Install for an installed uuid.
type AlreadyInstalledError struct {
	Image *Image
}

func (e *AlreadyInstalledError) Error() string {
	return fmt.Sprintf("Image %s is already installed", e.Image.Manifest.UUID)
}

func (e *AlreadyInstalledError) Unwrap() error { return ErrAlreadyInstalled }

// HasClonesError refuses to delete an image that zones or child images
// were cloned from. It wraps pool.ErrHasDependents.
type HasClonesError struct {
	UUID   string
	Clones []string
}

func (e *HasClonesError) Error() string {
	if len(e.Clones) == 0 {
		return fmt.Sprintf("image %q has dependent clones", e.UUID)
	}
	msg := fmt.Sprintf("image %q has dependent clones: %s", e.UUID, e.Clones[0])
	if len(e.Clones) > 1 {
		msg += fmt.Sprintf(" and %d others...", len(e.Clones)-1)
	}
	return msg
}

func (e *HasClonesError) Unwrap() error { return pool.ErrHasDependents }

// Image is an installed image as `imgadm get` shows it, and as the image
// database stores it.
type Image struct {
	Manifest *Manifest `json:"manifest"`
	Zpool    string    `json:"zpool"`
	Source   string    `json:"source,omitempty"`
	// CloneNames are the datasets cloned from the image's @final (filled
	// by Images, not stored).
	CloneNames []string `json:"-"`
}

// Store is the local image database over one pool. Its methods are safe
// for concurrent use, also across processes: each image uuid has a lock
// file in the database directory.
type Store struct {
	dir      string
	pool     pool.Driver
	poolName string
}

// Open opens (creating) the database in dbDir for images in poolName, and
// removes what interrupted installs left behind.
func Open(dbDir string, p pool.Driver, poolName string) (*Store, error) {
	if err := os.MkdirAll(dbDir, 0o755); err != nil {
		return nil, fmt.Errorf("open image database: %w", err)
	}
	s := &Store{dir: dbDir, pool: p, poolName: poolName}
	if err := s.recoverAll(); err != nil {
		return nil, fmt.Errorf("open image database: %w", err)
	}
	return s, nil
}

// Pool is the name of the store's pool.
func (s *Store) Pool() string { return s.poolName }

// Dataset is the dataset an image is installed as, "<pool>/<uuid>".
func (s *Store) Dataset(uuid string) string { return s.poolName + "/" + uuid }

// Snapshot is the snapshot clones of the image start from.
func (s *Store) Snapshot(uuid string) string { return s.Dataset(uuid) + "@" + FinalSnapshot }

func (s *Store) manifestPath(uuid string) string {
	return filepath.Join(s.dir, s.poolName+"-"+uuid+".json")
}

// recordPath marks an install in progress: its datasets may be removed
// by recovery. VMs' datasets also live at <pool>/<uuid>, so a dataset
// without a manifest is only removed when this record names it.
func (s *Store) recordPath(uuid string) string {
	return filepath.Join(s.dir, s.poolName+"-"+uuid+".installing")
}

func (s *Store) lockPath(uuid string) string {
	return filepath.Join(s.dir, s.poolName+"-"+uuid+".lock")
}

// InstallOptions tune Install.
type InstallOptions struct {
	// Source is recorded as where the image came from (an IMGAPI URL);
	// empty for local files.
	Source string
	// Download says the file is being downloaded, which errors about
	// its size and checksum say as SmartOS's import says them.
	Download bool
	// Waiting, if set, is called once when another install has held
	// the image's lock for lockWaitNotice.
	Waiting func()
}

// lockWaitNotice is how long an install waits for an image's lock before
// it says so, as SmartOS's imgadm does.
const lockWaitNotice = time.Second

// Install installs the image described by the manifest file from the
// image file (a tar stream, compressed or not).
func (s *Store) Install(ctx context.Context, manifestPath, filePath string, opts InstallOptions) (*Image, error) {
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return nil, err
	}
	return s.InstallManifest(ctx, m, filePath, opts)
}

// InstallManifest installs an already parsed manifest's image file (see
// InstallStream). A file whose size is not the manifest's is refused
// before anything is made.
func (s *Store) InstallManifest(ctx context.Context, m *Manifest, filePath string, opts InstallOptions) (*Image, error) {
	f, err := os.Open(filePath)
	if err != nil {
		return nil, fmt.Errorf("image file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("image file: %w", err)
	}
	if len(m.Files) > 0 && m.Files[0].Size > 0 && m.Files[0].Size != st.Size() {
		return nil, &fileError{fmt.Sprintf("image file size error: manifest says %d bytes, %s is %d bytes", m.Files[0].Size, filePath, st.Size())}
	}
	return s.install(ctx, m, opts, func(mountpoint string) error {
		return extractVerified(ctx, f, filePath, m, mountpoint, false)
	})
}

// install runs the steps every install shares: take the uuid's lock,
// create <pool>/<uuid>-partial (a clone of the origin's @final for an
// incremental image), fill it, rename it to <pool>/<uuid>, snapshot
// @final, and write the manifest last: the manifest's presence means
// installed. Any failure removes what was made; a crash leaves an install
// record that the next Open or Install of the uuid cleans up.
func (s *Store) install(ctx context.Context, m *Manifest, opts InstallOptions, fill func(mountpoint string) error) (img *Image, err error) {
	if !ValidUUID(m.UUID) {
		return nil, fmt.Errorf("install image: invalid uuid %q", m.UUID)
	}
	if m.PublishedAt == "" {
		m.PublishedAt = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	unlock, err := s.lockNotify(ctx, m.UUID, opts.Waiting)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.recover(m.UUID); err != nil {
		return nil, err
	}
	if have, err := s.Get(m.UUID); err == nil {
		return nil, &AlreadyInstalledError{Image: have}
	} else if !errors.Is(err, ErrNotInstalled) {
		return nil, err
	}
	if m.Origin != "" {
		if _, err := s.Get(m.Origin); err != nil {
			return nil, fmt.Errorf("install image %s: origin: %w", m.UUID, err)
		}
	}

	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	rec := s.recordPath(m.UUID)
	if err := writeFileAtomic(rec, []byte(time.Now().UTC().Format(time.RFC3339)+"\n")); err != nil {
		return nil, fmt.Errorf("install image %s: %w", m.UUID, err)
	}
	undo = append(undo, func() { os.Remove(rec) })

	partial := s.Dataset(m.UUID) + "-partial"
	var ds *pool.Dataset
	if m.Origin == "" {
		ds, err = s.pool.Create(partial)
	} else {
		ds, err = s.pool.Clone(s.Snapshot(m.Origin), partial)
	}
	if err != nil {
		return nil, fmt.Errorf("install image %s: create dataset: %w", m.UUID, err)
	}
	undo = append(undo, func() { s.destroy(partial) })

	if err := fill(ds.Mountpoint); err != nil {
		return nil, fmt.Errorf("install image %s: %w", m.UUID, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("install image %s: %w", m.UUID, err)
	}
	// The manifest written below says "installed": the files must be on
	// disk before it, also across a power loss.
	if err := syncFS(ds.Mountpoint); err != nil {
		return nil, fmt.Errorf("install image %s: %w", m.UUID, err)
	}

	final := s.Dataset(m.UUID)
	if err := s.pool.Rename(partial, final); err != nil {
		return nil, fmt.Errorf("install image %s: rename dataset: %w", m.UUID, err)
	}
	undo = append(undo, func() { s.destroy(final) })
	if err := s.pool.Snapshot(final, FinalSnapshot); err != nil {
		return nil, fmt.Errorf("install image %s: snapshot: %w", m.UUID, err)
	}

	img = &Image{Manifest: m, Zpool: s.poolName, Source: opts.Source}
	b, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("install image %s: %w", m.UUID, err)
	}
	if err := writeFileAtomic(s.manifestPath(m.UUID), append(b, '\n')); err != nil {
		return nil, fmt.Errorf("install image %s: write manifest: %w", m.UUID, err)
	}
	// Installed. The record only guards the steps above.
	os.Remove(rec)
	return img, nil
}

// ctxReader stops a long extraction when its context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Get returns an installed image. An image whose manifest or dataset is
// missing is not installed.
func (s *Store) Get(uuid string) (*Image, error) {
	if !ValidUUID(uuid) {
		return nil, fmt.Errorf("invalid uuid: %q", uuid)
	}
	img, err := s.load(uuid)
	if err != nil {
		return nil, err
	}
	ok, err := pool.Exists(s.pool, s.Dataset(uuid))
	if err != nil {
		return nil, fmt.Errorf("get image %s: %w", uuid, err)
	}
	if !ok {
		return nil, &NotInstalledError{UUID: uuid, Zpool: s.poolName}
	}
	return img, nil
}

func (s *Store) load(uuid string) (*Image, error) {
	b, err := os.ReadFile(s.manifestPath(uuid))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &NotInstalledError{UUID: uuid, Zpool: s.poolName}
		}
		return nil, fmt.Errorf("get image %s: %w", uuid, err)
	}
	img := &Image{}
	if err := json.Unmarshal(b, img); err != nil || img.Manifest == nil {
		return nil, fmt.Errorf("get image %s: corrupt %s: %v", uuid, s.manifestPath(uuid), err)
	}
	if img.Manifest.UUID != uuid {
		return nil, fmt.Errorf("get image %s: UUID for image in %q is wrong", uuid, s.manifestPath(uuid))
	}
	if img.Zpool == "" {
		img.Zpool = s.poolName
	}
	return img, nil
}

// Images returns every installed image with its clones, sorted by
// published_at then name (imgadm list's default order).
func (s *Store) Images() ([]*Image, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	dss, err := s.pool.List()
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	exists := map[string]bool{}
	clones := map[string][]string{}
	for _, d := range dss {
		exists[d.Name] = true
		if d.Origin != "" {
			clones[d.Origin] = append(clones[d.Origin], d.Name)
		}
	}
	var out []*Image
	for _, e := range ents {
		uuid, ok := strings.CutPrefix(e.Name(), s.poolName+"-")
		if !ok {
			continue
		}
		if uuid, ok = strings.CutSuffix(uuid, ".json"); !ok || !ValidUUID(uuid) {
			continue
		}
		if !exists[s.Dataset(uuid)] {
			continue
		}
		img, err := s.load(uuid)
		if err != nil {
			return nil, err
		}
		img.CloneNames = clones[s.Snapshot(uuid)]
		out = append(out, img)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Manifest, out[j].Manifest
		if a.PublishedAt != b.PublishedAt {
			return a.PublishedAt < b.PublishedAt
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.UUID < b.UUID
	})
	return out, nil
}

// List returns the manifests of every installed image.
func (s *Store) List() ([]*Manifest, error) {
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	out := make([]*Manifest, len(imgs))
	for i, img := range imgs {
		out[i] = img.Manifest
	}
	return out, nil
}

// Clones lists the datasets cloned from the image's @final snapshot.
func (s *Store) Clones(uuid string) ([]string, error) {
	dss, err := s.pool.List()
	if err != nil {
		return nil, fmt.Errorf("list clones of image %s: %w", uuid, err)
	}
	var out []string
	snap := s.Snapshot(uuid)
	for _, d := range dss {
		if d.Origin == snap {
			out = append(out, d.Name)
		}
	}
	return out, nil
}

// Delete removes an installed image: its dataset, then its manifest. It
// refuses while clones of the image exist, and waits for an install or
// delete of the same uuid in progress.
func (s *Store) Delete(uuid string) error {
	if !ValidUUID(uuid) {
		return fmt.Errorf("invalid uuid: %q", uuid)
	}
	unlock, err := s.lock(context.Background(), uuid)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := s.Get(uuid); err != nil {
		return err
	}
	clones, err := s.Clones(uuid)
	if err != nil {
		return err
	}
	if len(clones) > 0 {
		return &HasClonesError{UUID: uuid, Clones: clones}
	}
	if err := s.pool.Destroy(s.Dataset(uuid)); err != nil && !errors.Is(err, pool.ErrNotFound) {
		if errors.Is(err, pool.ErrHasDependents) {
			// Cloned since the check above.
			clones, _ := s.Clones(uuid)
			return &HasClonesError{UUID: uuid, Clones: clones}
		}
		return fmt.Errorf("error deleting image %q: %w", uuid, err)
	}
	// Dataset first: a manifest without a dataset reads as not installed.
	if err := os.Remove(s.manifestPath(uuid)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("error deleting image %q: %w", uuid, err)
	}
	return atomicfile.Sync(s.dir)
}

// lock takes the per-uuid lock, waiting for other installs or deletes of
// the same image (in this or another process) until ctx ends.
func (s *Store) lock(ctx context.Context, uuid string) (func(), error) {
	return s.lockNotify(ctx, uuid, nil)
}

// lockNotify is lock, calling waiting (if not nil) once the lock has been
// waited for lockWaitNotice.
func (s *Store) lockNotify(ctx context.Context, uuid string, waiting func()) (func(), error) {
	notice := time.Now().Add(lockWaitNotice)
	f, err := os.OpenFile(s.lockPath(uuid), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock image %s: %w", uuid, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			// Closing the file releases the lock. The file stays: removing
			// it would let a waiter lock a different inode.
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock image %s: %w", uuid, err)
		}
		if waiting != nil && time.Now().After(notice) {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock image %s: %w", uuid, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tryLock takes the lock only if it is free.
func (s *Store) tryLock(uuid string) (func(), bool, error) {
	f, err := os.OpenFile(s.lockPath(uuid), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("lock image %s: %w", uuid, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock image %s: %w", uuid, err)
	}
	return func() { f.Close() }, true, nil
}

// recoverAll cleans up after interrupted installs: every install record
// and every <pool>/<uuid>-partial dataset whose uuid is not locked by a
// live install.
func (s *Store) recoverAll() error {
	uuids := map[string]bool{}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if u, ok := strings.CutPrefix(e.Name(), s.poolName+"-"); ok {
			if u, ok = strings.CutSuffix(u, ".installing"); ok && ValidUUID(u) {
				uuids[u] = true
			}
		}
	}
	names, err := pool.DatasetNames(s.pool)
	if err != nil {
		return err
	}
	for _, name := range names {
		if u, ok := strings.CutPrefix(name, s.poolName+"/"); ok {
			if u, ok = strings.CutSuffix(u, "-partial"); ok && ValidUUID(u) {
				uuids[u] = true
			}
		}
	}
	for u := range uuids {
		unlock, ok, err := s.tryLock(u)
		if err != nil {
			return err
		}
		if !ok {
			continue // an install is running now
		}
		err = s.recover(u)
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// recover removes what an interrupted install of uuid left. The caller
// holds the uuid's lock.
func (s *Store) recover(uuid string) error {
	if err := s.destroy(s.Dataset(uuid) + "-partial"); err != nil {
		return fmt.Errorf("clean up interrupted install of image %s: %w", uuid, err)
	}
	rec := s.recordPath(uuid)
	if _, err := os.Stat(rec); err != nil {
		return nil
	}
	if _, err := os.Stat(s.manifestPath(uuid)); errors.Is(err, fs.ErrNotExist) {
		if err := s.destroy(s.Dataset(uuid)); err != nil {
			return fmt.Errorf("clean up interrupted install of image %s: %w", uuid, err)
		}
	}
	if err := os.Remove(rec); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clean up interrupted install of image %s: %w", uuid, err)
	}
	return nil
}

// destroy removes a dataset; one already gone is fine.
func (s *Store) destroy(name string) error {
	if err := s.pool.Destroy(name); err != nil && !errors.Is(err, pool.ErrNotFound) {
		return err
	}
	return nil
}

// writeFileAtomic replaces path with data so readers see the old or the
// new content, never a part, also across a crash.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, atomicfile.Options{Mode: 0o644, Sync: true, SyncDir: true})
}

func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
