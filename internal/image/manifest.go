// Package image is hull's local image store: IMGAPI v2 manifests, the
// image database (one JSON file per installed image, as SmartOS keeps in
// /var/imgadm/images), and installing an image file into the pool as
// dataset <pool>/<uuid> with its one snapshot @final, which zones clone.
package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
)

// Manifest is an IMGAPI image manifest, version 2. Field names are those
// of the wire format. Booleans are pointers so that an absent field and
// false stay apart when a manifest is written back.
type Manifest struct {
	V                    int            `json:"v"`
	UUID                 string         `json:"uuid"`
	URN                  string         `json:"urn,omitempty"`
	Owner                string         `json:"owner,omitempty"`
	Name                 string         `json:"name"`
	Version              string         `json:"version"`
	Description          string         `json:"description,omitempty"`
	Homepage             string         `json:"homepage,omitempty"`
	EULA                 string         `json:"eula,omitempty"`
	Icon                 *bool          `json:"icon,omitempty"`
	State                string         `json:"state,omitempty"`
	Error                *ManifestError `json:"error,omitempty"`
	Disabled             *bool          `json:"disabled,omitempty"`
	Activated            *bool          `json:"activated,omitempty"`
	Public               *bool          `json:"public,omitempty"`
	PublishedAt          string         `json:"published_at,omitempty"`
	Type                 string         `json:"type"`
	OS                   string         `json:"os"`
	Origin               string         `json:"origin,omitempty"`
	Files                []File         `json:"files,omitempty"`
	ACL                  []string       `json:"acl,omitempty"`
	Requirements         *Requirements  `json:"requirements,omitempty"`
	Users                []User         `json:"users,omitempty"`
	BillingTags          []string       `json:"billing_tags,omitempty"`
	Traits               map[string]any `json:"traits,omitempty"`
	Tags                 map[string]any `json:"tags,omitempty"`
	GeneratePasswords    *bool          `json:"generate_passwords,omitempty"`
	InheritedDirectories []string       `json:"inherited_directories,omitempty"`
	NICDriver            string         `json:"nic_driver,omitempty"`
	DiskDriver           string         `json:"disk_driver,omitempty"`
	CPUType              string         `json:"cpu_type,omitempty"`
	ImageSize            int64          `json:"image_size,omitempty"`
	Channels             []string       `json:"channels,omitempty"`
}

// File describes the one image file of a manifest.
type File struct {
	SHA1               string `json:"sha1,omitempty"`
	Size               int64  `json:"size,omitempty"`
	Compression        string `json:"compression,omitempty"`
	DatasetGUID        string `json:"dataset_guid,omitempty"`
	Digest             string `json:"digest,omitempty"`
	UncompressedDigest string `json:"uncompressedDigest,omitempty"`
	Stor               string `json:"stor,omitempty"`
}

// Requirements are what a VM needs to be provisioned from the image.
type Requirements struct {
	Networks    []Network         `json:"networks,omitempty"`
	Brand       string            `json:"brand,omitempty"`
	SSHKey      *bool             `json:"ssh_key,omitempty"`
	MinRAM      int64             `json:"min_ram,omitempty"`
	MaxRAM      int64             `json:"max_ram,omitempty"`
	MinPlatform map[string]string `json:"min_platform,omitempty"`
	MaxPlatform map[string]string `json:"max_platform,omitempty"`
	Bootrom     string            `json:"bootrom,omitempty"`
}

// Network is one entry of requirements.networks.
type Network struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// User is one entry of users.
type User struct {
	Name string `json:"name"`
}

// ManifestError is the error object of a failed image.
type ManifestError struct {
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
	Stack   string `json:"stack,omitempty"`
}

// Limits and values from the IMGAPI manifest definition.
const (
	MaxNameLength        = 512
	MaxVersionLength     = 128
	MaxDescriptionLength = 512
	MaxURLLength         = 128
)

// Types, OSes and file compressions a manifest may name. zstd is a hull
// extension: SmartOS knows only the first four.
var (
	Types        = []string{"zone-dataset", "lx-dataset", "zvol", "docker", "other"}
	OSes         = []string{"smartos", "linux", "windows", "bsd", "illumos", "other"}
	Compressions = []string{"bzip2", "gzip", "xz", "none", "zstd"}
	States       = []string{"active", "unactivated", "disabled", "creating", "failed"}
)

var (
	uuidRE        = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	nameRE        = regexp.MustCompile(`^[A-Za-z0-9._/ -]+$`)
	versionRE     = regexp.MustCompile(`^[A-Za-z0-9._/+-]+$`)
	sha1RE        = regexp.MustCompile(`^[0-9a-f]{40}$`)
	publishedRE   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$`)
	platformVerRE = regexp.MustCompile(`^20[1-9]\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3])[0-5]\d[0-5]\dZ$`)
)

// ValidUUID reports whether s is a lower-case UUID as IMGAPI writes them.
func ValidUUID(s string) bool { return uuidRE.MatchString(s) }

// FieldError is one problem with one manifest field. Code is
// "MissingParameter" or "Invalid", as IMGAPI reports them.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

// ValidationError lists every problem found in a manifest. Its text has
// SmartOS's shape: `invalid manifest: name (MissingParameter), os (...)`.
type ValidationError struct {
	Errors []FieldError
}

// ErrInvalidManifest is wrapped by every manifest parse or validation error.
var ErrInvalidManifest = errors.New("invalid manifest")

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		switch {
		case fe.Message != "":
			parts[i] = fmt.Sprintf("%s (%s)", fe.Field, fe.Message)
		case fe.Code == "Invalid":
			parts[i] = fe.Field
		default:
			parts[i] = fmt.Sprintf("%s (%s)", fe.Field, fe.Code)
		}
	}
	return "invalid manifest: " + strings.Join(parts, ", ")
}

func (e *ValidationError) Unwrap() error { return ErrInvalidManifest }

// syntaxError is a manifest that is not a JSON object.
type syntaxError struct{ err error }

func (e *syntaxError) Error() string   { return "manifest is invalid: " + e.err.Error() }
func (e *syntaxError) Unwrap() []error { return []error{e.err, ErrInvalidManifest} }

// knownFields are the top-level manifest fields, in the order IMGAPI
// validates them; anything else is rejected, as SmartOS does.
var knownFields = []string{
	"v", "uuid", "urn", "owner", "name", "version", "description",
	"homepage", "eula", "disabled", "activated", "published_at", "state",
	"public", "type", "os", "origin", "error", "files", "icon", "acl",
	"requirements", "users", "billing_tags", "traits", "tags",
	"generate_passwords", "inherited_directories", "nic_driver",
	"disk_driver", "cpu_type", "image_size", "channels",
}

// requiredFields are what `imgadm install` needs at least.
var requiredFields = []string{"v", "uuid", "name", "version", "type", "os"}

// ParseManifest decodes and validates a manifest. It accepts the minimal
// manifest `imgadm install` accepts (v, uuid, name, version, type, os) and
// checks every other field that is present.
func ParseManifest(b []byte) (*Manifest, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, &syntaxError{err}
	}
	if raw == nil {
		return nil, &syntaxError{errors.New("not a JSON object")}
	}
	var errs []FieldError
	add := func(field, code, msg string, args ...any) {
		errs = append(errs, FieldError{Field: field, Code: code, Message: fmt.Sprintf(msg, args...)})
	}

	// Decode field by field so that a wrong JSON type is reported against
	// its field and the other fields are still checked.
	m := &Manifest{}
	fields := map[string]any{
		"v": &m.V, "uuid": &m.UUID, "urn": &m.URN, "owner": &m.Owner,
		"name": &m.Name, "version": &m.Version, "description": &m.Description,
		"homepage": &m.Homepage, "eula": &m.EULA, "icon": &m.Icon,
		"state": &m.State, "error": &m.Error, "disabled": &m.Disabled,
		"activated": &m.Activated, "public": &m.Public,
		"published_at": &m.PublishedAt, "type": &m.Type, "os": &m.OS,
		"origin": &m.Origin, "files": &m.Files, "acl": &m.ACL,
		"requirements": &m.Requirements, "users": &m.Users,
		"billing_tags": &m.BillingTags, "traits": &m.Traits, "tags": &m.Tags,
		"generate_passwords":    &m.GeneratePasswords,
		"inherited_directories": &m.InheritedDirectories,
		"nic_driver":            &m.NICDriver, "disk_driver": &m.DiskDriver,
		"cpu_type": &m.CPUType, "image_size": &m.ImageSize,
		"channels": &m.Channels,
	}
	present := map[string]bool{}
	for _, f := range knownFields {
		r, ok := raw[f]
		if !ok || bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			continue
		}
		present[f] = true
		if f == "requirements" {
			continue // decoded strictly below, with its own messages
		}
		if err := json.Unmarshal(r, fields[f]); err != nil {
			add(f, "Invalid", "%s", jsonTypeMessage(err))
			present[f] = false
		}
	}

	for _, f := range requiredFields {
		if r, ok := raw[f]; !ok || bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
			errs = append(errs, FieldError{Field: f, Code: "MissingParameter"})
		}
	}
	if present["v"] && m.V != 2 {
		add("v", "Invalid", "must be 2, not %d", m.V)
	}
	if present["uuid"] && !ValidUUID(m.UUID) {
		add("uuid", "Invalid", "invalid uuid: %q", m.UUID)
	}
	if present["name"] {
		switch {
		case len(m.Name) > MaxNameLength:
			add("name", "Invalid", "image name is too long, max %d characters", MaxNameLength)
		case !nameRE.MatchString(m.Name):
			add("name", "Invalid", `image name has invalid characters (only alpha-numeric characters and " ", ".", "-", "_" and "/" are allowed)`)
		}
	}
	if present["version"] {
		switch {
		case len(m.Version) > MaxVersionLength:
			add("version", "Invalid", "image version is too long, max %d characters", MaxVersionLength)
		case !versionRE.MatchString(m.Version):
			add("version", "Invalid", `image version has invalid characters (only alpha-numeric characters and ".", "-", "_" and "/" are allowed)`)
		}
	}
	if present["type"] && !contains(Types, m.Type) {
		add("type", "Invalid", "invalid image type, %q, must be one of: %s", m.Type, strings.Join(Types, ", "))
	}
	if present["os"] && !contains(OSes, m.OS) {
		add("os", "Invalid", "invalid image os, %q, must be one of: %s", m.OS, strings.Join(OSes, ", "))
	}

	if present["owner"] && !ValidUUID(m.Owner) {
		add("owner", "Invalid", "invalid uuid: %q", m.Owner)
	}
	if present["description"] && len(m.Description) > MaxDescriptionLength {
		add("description", "Invalid", "image description is too long, max %d characters", MaxDescriptionLength)
	}
	for _, u := range []struct{ field, label, val string }{
		{"homepage", "homepage", m.Homepage}, {"eula", "EULA", m.EULA},
	} {
		if !present[u.field] {
			continue
		}
		switch {
		case !strings.HasPrefix(u.val, "http://") && !strings.HasPrefix(u.val, "https://"):
			add(u.field, "Invalid", "invalid image %s URL protocol", u.label)
		case len(u.val) > MaxURLLength:
			add(u.field, "Invalid", "image %s URL is too long (max %d characters)", u.label, MaxURLLength)
		}
	}
	if m.Activated != nil && *m.Activated && !present["published_at"] {
		add("published_at", "MissingParameter", `if activated is "true" published_at must be present`)
	}
	if present["published_at"] && !publishedRE.MatchString(m.PublishedAt) {
		add("published_at", "Invalid", `published_at date not in "YYYY-MM-DDTHH:MM:SS(.SSS)Z" format`)
	}
	if present["state"] && !contains(States, m.State) {
		add("state", "Invalid", "invalid image state, %q, must be one of: %s", m.State, strings.Join(States, ", "))
	}
	if present["origin"] && !ValidUUID(m.Origin) {
		add("origin", "Invalid", "invalid uuid: %q", m.Origin)
	}
	if present["origin"] && m.Origin == m.UUID {
		add("origin", "Invalid", "an image cannot be its own origin")
	}
	if present["files"] {
		validateFiles(m, add)
	} else if m.Activated != nil && *m.Activated {
		add("files", "MissingParameter", `if activated is "true" files must be present`)
	}
	for i, a := range m.ACL {
		if !ValidUUID(a) {
			add("acl", "Invalid", "invalid image \"acl\" (item %d is not a UUID): %s", i, a)
			break
		}
	}
	if present["requirements"] {
		m.Requirements = validateRequirements(raw["requirements"], add)
	}
	for _, u := range m.Users {
		if u.Name == "" {
			add("users", "Invalid", `invalid image "users" entry: missing "name"`)
		}
	}
	if present["inherited_directories"] && m.Type != "zone-dataset" {
		add("inherited_directories", "Invalid", `invalid image "inherited_directories" (only valid for a type:zone-dataset image)`)
	}
	for _, hv := range []struct {
		field string
		set   bool
	}{{"nic_driver", present["nic_driver"]}, {"disk_driver", present["disk_driver"]}, {"cpu_type", present["cpu_type"]}, {"image_size", present["image_size"]}} {
		if m.Type == "zvol" && !hv.set && present["type"] {
			errs = append(errs, FieldError{Field: hv.field, Code: "MissingParameter"})
		} else if m.Type != "zvol" && hv.set {
			add(hv.field, "Invalid", "only valid for a type:zvol image")
		}
	}
	if present["image_size"] && m.ImageSize <= 0 {
		add("image_size", "Invalid", "invalid image image_size: %d (must be a positive integer)", m.ImageSize)
	}

	var unknown []string
	for k := range raw {
		if !contains(knownFields, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		add(k, "Invalid", "unknown manifest field")
	}

	if len(errs) > 0 {
		return nil, &ValidationError{Errors: errs}
	}
	return m, nil
}

func validateFiles(m *Manifest, add func(field, code, msg string, args ...any)) {
	switch len(m.Files) {
	case 0:
		return
	case 1:
	default:
		add("files", "Invalid", `invalid image "files": too many files`)
		return
	}
	f := m.Files[0]
	switch {
	case f.SHA1 == "" && m.Type == "docker" && f.Digest != "":
		// A docker layer's checksum is its digest (SmartOS's docker
		// images carry no sha1).
		if !digestRE.MatchString(f.Digest) {
			add("files", "Invalid", `invalid image "files": "digest" %q is not sha256:<64 hex digits>`, f.Digest)
		}
	case f.SHA1 == "":
		add("files", "Invalid", `invalid image "files": file missing "sha1" field`)
	case !sha1RE.MatchString(f.SHA1):
		add("files", "Invalid", `invalid image "files": "sha1" %q is not 40 lower-case hex digits`, f.SHA1)
	}
	if f.Size <= 0 {
		add("files", "Invalid", `invalid image "files": file missing "size" field`)
	}
	if f.Compression == "" {
		add("files", "Invalid", `invalid image "files": file missing "compression" field`)
	} else if !contains(Compressions, f.Compression) {
		add("files", "Invalid", `invalid image "files": invalid compression %q (must be one of %s)`, f.Compression, strings.Join(Compressions, ", "))
	}
}

func validateRequirements(r json.RawMessage, add func(field, code, msg string, args ...any)) *Requirements {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r, &raw); err != nil {
		add("requirements", "Invalid", `invalid image "requirements" (not an object): %s`, r)
		return nil
	}
	req := &Requirements{}
	targets := map[string]any{
		"networks": &req.Networks, "brand": &req.Brand, "ssh_key": &req.SSHKey,
		"min_ram": &req.MinRAM, "max_ram": &req.MaxRAM,
		"min_platform": &req.MinPlatform, "max_platform": &req.MaxPlatform,
		"bootrom": &req.Bootrom,
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t, ok := targets[k]
		if !ok {
			add("requirements."+k, "Invalid", "unsupported requirement %q", k)
			continue
		}
		if err := json.Unmarshal(raw[k], t); err != nil {
			add("requirements."+k, "Invalid", "invalid image %q (%s): %s", "requirements."+k, jsonTypeMessage(err), raw[k])
		}
	}
	for _, n := range req.Networks {
		if n.Name == "" || n.Description == "" {
			add("requirements.networks", "Invalid", `invalid image "requirements.networks" entry: needs "name" and "description"`)
			break
		}
	}
	if _, ok := raw["min_ram"]; ok && req.MinRAM <= 0 {
		add("requirements.min_ram", "Invalid", `invalid image "requirements.min_ram" (not a positive integer): %s`, raw["min_ram"])
	}
	if _, ok := raw["max_ram"]; ok && req.MaxRAM <= 0 {
		add("requirements.max_ram", "Invalid", `invalid image "requirements.max_ram" (not a positive integer): %s`, raw["max_ram"])
	}
	if req.MinRAM > 0 && req.MaxRAM > 0 && req.MaxRAM < req.MinRAM {
		add("requirements.max_ram", "Invalid", "min_ram must be <= max_ram, but: min_ram=%d, max_ram=%d", req.MinRAM, req.MaxRAM)
	}
	for _, p := range []struct {
		field string
		m     map[string]string
	}{{"min_platform", req.MinPlatform}, {"max_platform", req.MaxPlatform}} {
		if _, ok := raw[p.field]; !ok {
			continue
		}
		if len(p.m) == 0 {
			add("requirements."+p.field, "Invalid", `invalid image "requirements.%s" (not an object): %s`, p.field, raw[p.field])
			continue
		}
		vers := make([]string, 0, len(p.m))
		for k := range p.m {
			vers = append(vers, k)
		}
		sort.Strings(vers)
		for _, k := range vers {
			if !platformVerRE.MatchString(p.m[k]) {
				add("requirements."+p.field, "Invalid", `invalid image "requirements.%s" entry: "%s: %s" not a valid platform version`, p.field, k, p.m[k])
			}
		}
	}
	if req.Bootrom != "" {
		switch {
		case req.Brand == "":
			add("requirements.bootrom", "MissingParameter", `"requirements.brand" not specified. "requirements.bootrom" requires "requirements.brand" to be set to "bhyve"`)
		case req.Brand != "bhyve":
			add("requirements.bootrom", "Invalid", `invalid bootrom "requirements.bootrom" not supported with %q brand; "requirements.brand" must be "bhyve"`, req.Brand)
		case req.Bootrom != "bios" && req.Bootrom != "uefi":
			add("requirements.bootrom", "Invalid", `invalid bootrom "requirements.bootrom" invalid entry %q; must be one of: bios, uefi`, req.Bootrom)
		}
	}
	return req
}

// jsonTypeMessage turns a decoding error into "not a string" and the like.
func jsonTypeMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		t := te.Type
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		var want string
		switch t.Kind() {
		case reflect.Int, reflect.Int64:
			want = "an integer"
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "a boolean"
		case reflect.Slice:
			want = "an array"
		default:
			want = "an object"
		}
		return fmt.Sprintf("not %s: got %s", want, te.Value)
	}
	return err.Error()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
