package imgapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"hull/internal/image"
)

// Version is what GET /ping reports.
const Version = "hull-1"

// Server serves a Repo over HTTP.
type Server struct {
	Repo *Repo
	// Token guards the write calls (import, file upload, activate,
	// delete) and listing non-active images. Without one the server is
	// read-only.
	Token string
	// Channels, if any, are the server's channels (channels.go).
	Channels []Channel
}

// ServeHTTP routes IMGAPI's endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "IMGAPI/"+Version)
	path := strings.TrimRight(r.URL.Path, "/")
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var err error
	switch {
	case path == "/ping":
		err = s.only(w, r, http.MethodGet, s.ping)
	case path == "/images":
		err = s.only(w, r, http.MethodGet, s.listImages)
	case path == "/channels":
		err = s.only(w, r, http.MethodGet, s.listChannels)
	case (len(parts) == 2 || len(parts) == 3 && parts[2] == "file") && parts[0] == "images" && !image.ValidUUID(parts[1]):
		// IMGAPI's answer to a malformed uuid: the resource does not exist.
		err = errorf(404, "ResourceNotFound", "%s does not exist", r.URL.Path)
	case len(parts) == 2 && parts[0] == "images":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			err = s.getImage(w, r, parts[1])
		case http.MethodPost:
			err = s.action(w, r, parts[1])
		case http.MethodDelete:
			err = s.deleteImage(w, r, parts[1])
		default:
			err = badMethod(r)
		}
	case len(parts) == 3 && parts[0] == "images" && parts[2] == "file":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			err = s.getFile(w, r, parts[1])
		case http.MethodPut:
			err = s.addFile(w, r, parts[1])
		default:
			err = badMethod(r)
		}
	default:
		err = errorf(404, "ResourceNotFound", "%s does not exist", r.URL.Path)
	}
	if err != nil {
		writeError(w, err)
	}
}

func badMethod(r *http.Request) error {
	return errorf(405, "BadMethod", "%s is not allowed", r.Method)
}

func (s *Server) only(w http.ResponseWriter, r *http.Request, method string, h func(http.ResponseWriter, *http.Request) error) error {
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		return badMethod(r)
	}
	return h(w, r)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errorf(500, "InternalError", "%v", err)
	}
	writeJSON(w, ae.Status, ae)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"code":"InternalError","message":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// authorized checks "Authorization: Bearer <token>" or HTTP basic auth
// with the token as the password.
func (s *Server) authorized(r *http.Request) bool {
	if s.Token == "" {
		return false
	}
	got := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		got = strings.TrimPrefix(h, "Bearer ")
	} else if _, pw, ok := r.BasicAuth(); ok {
		got = pw
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) == 1
}

func (s *Server) requireAuth(r *http.Request) error {
	if s.Token == "" {
		return errorf(403, "OperatorOnly", "this server takes no changes (it was started without a token)")
	}
	if r.Header.Get("Authorization") == "" {
		return errorf(401, "Unauthorized", "authorization required")
	}
	if !s.authorized(r) {
		return errorf(401, "InvalidCredentials", "invalid credentials")
	}
	return nil
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	if code := r.URL.Query().Get("error"); code != "" {
		msg := r.URL.Query().Get("message")
		if msg == "" {
			msg = "pong"
		}
		status := map[string]int{"ResourceNotFound": 404, "InternalError": 500, "ServiceUnavailableError": 503}[code]
		if status == 0 {
			status = 500
		}
		return errorf(status, code, "%s", msg)
	}
	pong := map[string]any{"ping": "pong", "version": Version, "imgapi": true}
	if s.authorized(r) {
		pong["pid"] = os.Getpid()
	}
	writeJSON(w, 200, pong)
	return nil
}

// getImage is GetImage. As on IMGAPI, an image is found by its uuid
// whatever its state: ListImages hides what is not active, but an active
// image's origin may have been disabled since, and must still be fetched.
func (s *Server) getImage(w http.ResponseWriter, r *http.Request, uuid string) error {
	rec, _, err := s.imageIn(r, uuid, true)
	if err != nil {
		return err
	}
	writeJSON(w, 200, rec.Manifest)
	return nil
}

// getFile is GetImageFile, with IMGAPI's headers: Etag (the sha1),
// Last-Modified, Content-Length, Content-Type and Content-MD5 (base64).
func (s *Server) getFile(w http.ResponseWriter, r *http.Request, uuid string) error {
	rec, _, err := s.imageIn(r, uuid, true)
	if err != nil {
		return err
	}
	if len(rec.Manifest.Files) == 0 {
		return errorf(404, "ResourceNotFound", "image %q has no file", uuid)
	}
	if idx := r.URL.Query().Get("index"); idx != "" && idx != "0" {
		n, _ := strconv.Atoi(idx)
		return errorf(404, "ResourceNotFound", "image %q has no file at index %d", uuid, n)
	}
	f, err := os.Open(s.Repo.FilePath(uuid))
	if err != nil {
		return err
	}
	defer f.Close()
	file := rec.Manifest.Files[0]
	w.Header().Set("Etag", file.SHA1)
	w.Header().Set("Content-Type", "application/octet-stream")
	if rec.ContentMD5 != "" {
		w.Header().Set("Content-MD5", rec.ContentMD5)
	}
	// ServeContent sets Content-Length and Last-Modified and answers Range
	// requests (a resumed download).
	http.ServeContent(w, r, "", rec.FileMtime, f)
	return nil
}

func (s *Server) action(w http.ResponseWriter, r *http.Request, uuid string) error {
	if err := s.requireAuth(r); err != nil {
		return err
	}
	var m *image.Manifest
	var err error
	switch a := r.URL.Query().Get("action"); a {
	case "import":
		var c *Channel
		if c, err = s.channelOf(r, false); err == nil {
			m, err = s.importImage(r, uuid, c)
		}
	case "activate":
		if _, _, err = s.imageIn(r, uuid, false); err == nil {
			m, err = s.Repo.activate(uuid)
		}
	case "channel-add":
		m, err = s.channelAdd(r, uuid)
	case "update":
		m, err = s.updateImage(r, uuid)
	case "enable", "disable":
		if _, _, err = s.imageIn(r, uuid, false); err == nil {
			m, err = s.Repo.setDisabled(uuid, a == "disable")
		}
	case "":
		return errorf(422, "InvalidParameter", `missing "action" parameter`)
	default:
		return errorf(422, "InvalidParameter", "unsupported action: %q", a)
	}
	if err != nil {
		return err
	}
	writeJSON(w, 200, m)
	return nil
}

func (s *Server) importImage(r *http.Request, uuid string, c *Channel) (*image.Manifest, error) {
	if r.URL.Query().Get("account") != "" {
		return nil, errorf(403, "OperatorOnly", "this endpoint may only be called by an operator")
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, errorf(400, "BadRequestError", "reading the manifest: %v", err)
	}
	// Fields the server sets itself are dropped, as AdminImportImage does.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, errorf(400, "BadRequestError", "manifest is not a JSON object: %v", err)
	}
	for _, f := range []string{"state", "activated", "files", "error", "channels"} {
		delete(raw, f)
	}
	if c != nil {
		raw["channels"], _ = json.Marshal([]string{c.Name})
	}
	// A server without a user database owns what it is given, as
	// IMGAPI outside "dc" mode does (an import into a DC later makes the
	// admin its owner).
	raw["owner"] = json.RawMessage(`"` + unsetOwner + `"`)
	body := "undefined" // as IMGAPI words a missing one
	if id, ok := raw["uuid"]; ok {
		json.Unmarshal(id, &body)
	}
	if body != uuid {
		e := errorf(422, "InvalidParameter", "URL UUID, %q and body UUID, %q do not match", uuid, body)
		e.Errors = []fieldError{{Field: "uuid", Code: "Invalid"}}
		return nil, e
	}
	b, _ = json.Marshal(raw)
	m, err := image.ParseManifest(b)
	if err != nil {
		return nil, validationFailed(err)
	}
	return s.Repo.importImage(m)
}

func (s *Server) addFile(w http.ResponseWriter, r *http.Request, uuid string) error {
	if err := s.requireAuth(r); err != nil {
		return err
	}
	if _, _, err := s.imageIn(r, uuid, false); err != nil {
		return err
	}
	q := r.URL.Query()
	comp := q.Get("compression")
	switch {
	case comp == "":
		e := errorf(422, "InvalidParameter", `missing "compression"`)
		e.Errors = []fieldError{{Field: "compression", Code: "Missing"}}
		return e
	case !slices.Contains(image.Compressions, comp):
		e := errorf(422, "InvalidParameter", "invalid compression %q (must be one of %s)", comp, strings.Join(image.Compressions, ", "))
		e.Errors = []fieldError{{Field: "compression", Code: "Invalid"}}
		return e
	}
	// A sha1 that cannot match is said as IMGAPI says a mismatch, after
	// the upload; the size is the request's Content-Length, or (a hull
	// extension for chunked uploads) the size parameter.
	sha := q.Get("sha1")
	size := r.ContentLength
	if v := q.Get("size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return invalid("size", "invalid size: %q", v)
		}
		size = n
	}
	m, err := s.Repo.addFile(uuid, r.Body, comp, sha, q.Get("dataset_guid"), size)
	if err != nil {
		return err
	}
	writeJSON(w, 200, m)
	return nil
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request, uuid string) error {
	if err := s.requireAuth(r); err != nil {
		return err
	}
	left, err := s.removeFrom(r, uuid)
	if err != nil {
		return err
	}
	if !left {
		if err := s.Repo.remove(uuid); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ReadHeaderTimeout bounds how long a client may take to send its
// request headers.
const ReadHeaderTimeout = 30 * time.Second

// unsetOwner is IMGAPI's owner of images on a server without users.
const unsetOwner = "00000000-0000-0000-0000-000000000000"
