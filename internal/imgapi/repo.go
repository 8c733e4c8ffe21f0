// Package imgapi is an IMGAPI server: SmartOS's image repository protocol
// (ListImages, GetImage, GetImageFile, the publish flow AdminImportImage,
// AddImageFile, ActivateImage, DeleteImage, and channels) over images
// kept in one directory. imgadm's sources speak to it as to any IMGAPI.
package imgapi

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"hull/internal/atomicfile"
	"hull/internal/image"
)

// record is one image as the repository keeps it: the manifest and what
// GetImageFile needs besides.
type record struct {
	Manifest   *image.Manifest `json:"manifest"`
	ContentMD5 string          `json:"contentMD5,omitempty"`
	FileMtime  time.Time       `json:"fileMtime,omitempty"`
}

// Repo is the image directory: <dir>/<uuid>.json (the record) and
// <dir>/<uuid>.file (the image file). Every change replaces a file
// atomically, so a crash leaves each image as it was or as it became.
type Repo struct {
	dir  string
	mu   sync.RWMutex
	recs map[string]*record
}

// OpenRepo loads the repository in dir (creating it).
func OpenRepo(dir string) (*Repo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open image repository: %w", err)
	}
	r := &Repo{dir: dir, recs: map[string]*record{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open image repository: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			// An upload or write cut short.
			os.Remove(filepath.Join(dir, name))
			continue
		}
		uuid, ok := strings.CutSuffix(name, ".json")
		if !ok || !image.ValidUUID(uuid) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		rec := &record{}
		if err := json.Unmarshal(b, rec); err != nil || rec.Manifest == nil || rec.Manifest.UUID != uuid {
			return nil, fmt.Errorf("image repository: corrupt %s", name)
		}
		r.recs[uuid] = rec
	}
	return r, nil
}

func (r *Repo) recordPath(uuid string) string { return filepath.Join(r.dir, uuid+".json") }

// FilePath is where an image's file is kept.
func (r *Repo) FilePath(uuid string) string { return filepath.Join(r.dir, uuid+".file") }

func (r *Repo) save(rec *record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(r.recordPath(rec.Manifest.UUID), b)
}

func writeAtomic(path string, b []byte) error {
	return atomicfile.Write(path, b, atomicfile.Options{Mode: 0o600, Sync: true})
}

// get returns a copy of one record.
func (r *Repo) get(uuid string) (*record, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rec, ok := r.recs[uuid]
	if !ok {
		return nil, false
	}
	c := *rec
	m := *rec.Manifest
	c.Manifest = &m
	return &c, true
}

// list returns copies of every manifest, oldest published first.
func (r *Repo) list() []*image.Manifest {
	r.mu.RLock()
	out := make([]*image.Manifest, 0, len(r.recs))
	for _, rec := range r.recs {
		m := *rec.Manifest
		out = append(out, &m)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].PublishedAt != out[j].PublishedAt {
			return out[i].PublishedAt < out[j].PublishedAt
		}
		return out[i].UUID < out[j].UUID
	})
	return out
}

// apiError is an IMGAPI error response.
type apiError struct {
	Status  int          `json:"-"`
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Errors  []fieldError `json:"errors,omitempty"`
}

// fieldError is one entry of a ValidationFailed error's "errors".
type fieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// errorf builds an IMGAPI error.
func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// importImage is AdminImportImage: a new unactivated image keeping its uuid.
func (r *Repo) importImage(m *image.Manifest) (*image.Manifest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.recs[m.UUID]; ok {
		return nil, errorf(409, "ImageUuidAlreadyExists", "image uuid %q already exists", m.UUID)
	}
	if m.Origin != "" {
		if _, ok := r.recs[m.Origin]; !ok {
			return nil, errorf(422, "OriginDoesNotExist", "origin image %q does not exist", m.Origin)
		}
	}
	m.State = "unactivated"
	m.Activated = nil
	f := false
	if m.Disabled == nil {
		m.Disabled = &f
	}
	if m.Public == nil {
		m.Public = &f
	}
	m.Files = nil
	rec := &record{Manifest: m}
	if err := r.save(rec); err != nil {
		return nil, err
	}
	r.recs[m.UUID] = rec
	c := *m
	return &c, nil
}

// addFile is AddImageFile: the body becomes the image's file.
func (r *Repo) addFile(uuid string, body io.Reader, compression, wantSHA1, datasetGUID string, wantSize int64) (*image.Manifest, error) {
	rec, ok := r.get(uuid)
	if !ok {
		return nil, errorf(404, "ResourceNotFound", "image not found")
	}
	if rec.Manifest.State != "unactivated" {
		return nil, errorf(422, "ImageFilesImmutable", "cannot modify files on activated image %s", uuid)
	}
	if wantSize > maxFileSize {
		return nil, errorf(400, "Upload", "image file size %d (from Content-Length) exceeds the maximum allowed size, %s", wantSize, maxFileSizeStr)
	}
	tmp, err := os.CreateTemp(r.dir, "."+uuid+".upload-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	sh, mh := sha1.New(), md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, sh, mh), io.LimitReader(body, maxFileSize+1))
	if err != nil {
		return nil, errorf(400, "Upload", "error uploading file: %v", err)
	}
	// IMGAPI's checks and words, in its order.
	switch {
	case n == 0:
		return nil, errorf(400, "Download", "image file size is 0 bytes, empty files are not allowed")
	case n > maxFileSize:
		return nil, errorf(400, "Upload", "image file size exceeds the maximum allowed size, %s", maxFileSizeStr)
	case wantSize >= 0 && n != wantSize:
		return nil, errorf(400, "Download", "\"Content-Length\" header, %d, does not match uploaded size, %d", wantSize, n)
	}
	sum := hex.EncodeToString(sh.Sum(nil))
	if wantSHA1 != "" && wantSHA1 != sum {
		return nil, errorf(400, "Download", "\"sha1\" hash, %s, does not match the uploaded file sha1 hash, %s", wantSHA1, sum)
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), r.FilePath(uuid)); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.recs[uuid]
	if !ok || cur.Manifest.State != "unactivated" {
		return nil, errorf(409, "ImageFilesImmutable", "image %s changed during the upload", uuid)
	}
	m := *cur.Manifest
	m.Files = []image.File{{SHA1: sum, Size: n, Compression: compression, DatasetGUID: datasetGUID}}
	nrec := &record{Manifest: &m, ContentMD5: base64.StdEncoding.EncodeToString(mh.Sum(nil)), FileMtime: time.Now().UTC()}
	if err := r.save(nrec); err != nil {
		return nil, err
	}
	r.recs[uuid] = nrec
	c := m
	return &c, nil
}

// modify changes an image's manifest with change (an error from it
// changes nothing) and saves it.
func (r *Repo) modify(uuid string, change func(m *image.Manifest) error) (*image.Manifest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.recs[uuid]
	if !ok {
		return nil, errorf(404, "ResourceNotFound", "image not found")
	}
	m := *cur.Manifest
	if err := change(&m); err != nil {
		return nil, err
	}
	nrec := *cur
	nrec.Manifest = &m
	if err := r.save(&nrec); err != nil {
		return nil, err
	}
	r.recs[uuid] = &nrec
	c := m
	return &c, nil
}

// activate is ActivateImage.
func (r *Repo) activate(uuid string) (*image.Manifest, error) {
	return r.modify(uuid, func(m *image.Manifest) error {
		if m.State != "unactivated" {
			return errorf(422, "ImageAlreadyActivated", "image %q is already activated", uuid)
		}
		if len(m.Files) == 0 {
			return errorf(422, "NoActivationNoFile", "image %q cannot be activated: it has no file", uuid)
		}
		m.State = "active"
		if m.Disabled != nil && *m.Disabled {
			m.State = "disabled"
		}
		if m.PublishedAt == "" {
			m.PublishedAt = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		}
		return nil
	})
}

// setDisabled is DisableImage and EnableImage: the disabled flag, and
// the state it makes of an activated image ("disabled" or "active").
func (r *Repo) setDisabled(uuid string, disabled bool) (*image.Manifest, error) {
	return r.modify(uuid, func(m *image.Manifest) error {
		m.Disabled = &disabled
		if m.State != "unactivated" {
			m.State = "active"
			if disabled {
				m.State = "disabled"
			}
		}
		return nil
	})
}

// setChannels replaces an image's channels with what change makes of
// them (ChannelAddImage, or DeleteImage from one of several channels).
func (r *Repo) setChannels(uuid string, change func([]string) []string) (*image.Manifest, error) {
	return r.modify(uuid, func(m *image.Manifest) error {
		m.Channels = change(append([]string(nil), m.Channels...))
		return nil
	})
}

// remove is DeleteImage.
func (r *Repo) remove(uuid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.recs[uuid]; !ok {
		return errorf(404, "ResourceNotFound", "image not found")
	}
	var deps []string
	for _, rec := range r.recs {
		if rec.Manifest.Origin == uuid {
			deps = append(deps, rec.Manifest.UUID)
		}
	}
	if len(deps) > 0 {
		sort.Strings(deps)
		summary := strings.Join(deps, ", ")
		if len(deps) >= 10 {
			summary = fmt.Sprintf("%s, and %d more...", strings.Join(deps[:5], ", "), len(deps)-5)
		}
		return errorf(422, "ImageHasDependentImages", "image %q has %d dependent incremental image(s): %s", uuid, len(deps), summary)
	}
	if err := os.Remove(r.recordPath(uuid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	delete(r.recs, uuid)
	os.Remove(r.FilePath(uuid))
	return nil
}

// maxFileSize is IMGAPI's limit on an image file (20 GiB).
const (
	maxFileSize    = 20 << 30
	maxFileSizeStr = "20 GiB"
)
