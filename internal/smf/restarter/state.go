package restarter

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"hull/internal/smf/manifest"
)

// persisted is the administrative state kept across restarts: what
// svcadm enable/disable (without -t) and svccfg import/delete changed.
type persisted struct {
	Enabled  map[string]bool   `json:"enabled"`
	Imported map[string][]byte `json:"imported"` // service name → manifest
	Deleted  map[string]bool   `json:"deleted"`
	// Maintenance holds the instances svcadm mark maintenance (without
	// -t) put there: they stay until svcadm clear.
	Maintenance map[string]bool `json:"maintenance,omitempty"`
	// Milestone is svcadm milestone -d's ("" for all).
	Milestone string `json:"milestone,omitempty"`
}

func loadState(path string, logf func(string, ...any)) persisted {
	st := persisted{Enabled: map[string]bool{}, Imported: map[string][]byte{}, Deleted: map[string]bool{}, Maintenance: map[string]bool{}}
	if path == "" {
		return st
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return st
	}
	if err := json.Unmarshal(b, &st); err != nil {
		logf("svc.startd: %s: %v (starting from the manifests)", path, err)
	}
	for _, m := range []*map[string]bool{&st.Enabled, &st.Deleted, &st.Maintenance} {
		if *m == nil {
			*m = map[string]bool{}
		}
	}
	if st.Imported == nil {
		st.Imported = map[string][]byte{}
	}
	return st
}

// save writes the state atomically (r.mu held).
func (r *Restarter) save() error {
	if r.cfg.StateFile == "" {
		return nil
	}
	b, err := json.Marshal(r.st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.cfg.StateFile), 0o755); err != nil {
		return err
	}
	tmp := r.cfg.StateFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.cfg.StateFile)
}

// lookupCredential resolves a method_credential in root's user database.
func lookupCredential(root string, c *manifest.Credential) (*syscall.Credential, string, error) {
	uid, gid, home, err := lookupUser(root, c.User)
	if err != nil {
		return nil, "", err
	}
	cred := &syscall.Credential{Uid: uid, Gid: gid}
	if c.Group != "" && c.Group != ":default" {
		g, err := lookupGroup(root, c.Group)
		if err != nil {
			return nil, "", err
		}
		cred.Gid = g
	}
	if c.SuppGroups != "" && c.SuppGroups != ":default" {
		for _, name := range strings.FieldsFunc(c.SuppGroups, func(r rune) bool { return r == ',' || r == ' ' }) {
			g, err := lookupGroup(root, name)
			if err != nil {
				return nil, "", err
			}
			cred.Groups = append(cred.Groups, g)
		}
	} else {
		cred.Groups = []uint32{}
	}
	return cred, home, nil
}

func lookupUser(root, name string) (uid, gid uint32, home string, err error) {
	f := dbFind(root+"/etc/passwd", name, 0, 2)
	if len(f) < 6 {
		return 0, 0, "", fmt.Errorf("method_credential: user %q not found", name)
	}
	u, err1 := strconv.ParseUint(f[2], 10, 32)
	g, err2 := strconv.ParseUint(f[3], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, "", fmt.Errorf("method_credential: bad /etc/passwd entry for %q", name)
	}
	return uint32(u), uint32(g), f[5], nil
}

func lookupGroup(root, name string) (uint32, error) {
	f := dbFind(root+"/etc/group", name, 0, 2)
	if len(f) < 3 {
		return 0, fmt.Errorf("method_credential: group %q not found", name)
	}
	g, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		return 0, fmt.Errorf("method_credential: bad /etc/group entry for %q", name)
	}
	return uint32(g), nil
}

// dbFind finds the colon-separated line whose field nameField (or, for a
// numeric key, idField) equals key.
func dbFind(path, key string, nameField, idField int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	_, numErr := strconv.ParseUint(key, 10, 32)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) <= idField {
			continue
		}
		if fs[nameField] == key || numErr == nil && fs[idField] == key {
			return fs
		}
	}
	return nil
}

func unixSignalName(s syscall.Signal) string { return unix.SignalName(s) }

// builtinManifest holds the milestones and the stand-ins for the
// illumos services that site manifests commonly depend on; in a zone
// there is nothing for them to do, so they are online at once.
var builtinManifest = `<?xml version="1.0"?>
<service_bundle type="manifest" name="hull:milestones">
` + noop("system/filesystem/root", "") + noop("system/filesystem/usr", "system/filesystem/root") +
	noop("system/filesystem/minimal", "system/filesystem/usr") + noop("network/loopback", "") +
	noop("network/physical", "network/loopback") + noop("milestone/devices", "") +
	noop("milestone/network", "network/physical") + noop("milestone/single-user", "system/filesystem/minimal milestone/devices") +
	noop("system/filesystem/local", "milestone/single-user") + noop("milestone/name-services", "") +
	noop("milestone/multi-user", "milestone/single-user system/filesystem/local milestone/name-services") +
	noop("milestone/multi-user-server", "milestone/multi-user") + `</service_bundle>
`

func noop(name, deps string) string {
	typ := "service"
	if strings.HasPrefix(name, "milestone/") {
		typ = "milestone"
	}
	s := fmt.Sprintf("<service name=%q type=%q version=\"1\">\n<create_default_instance enabled=\"true\"/>\n<single_instance/>\n", name, typ)
	for k, d := range strings.Fields(deps) {
		s += fmt.Sprintf("<dependency name=\"dep%d\" grouping=\"require_all\" restart_on=\"none\" type=\"service\"><service_fmri value=\"svc:/%s\"/></dependency>\n", k, d)
	}
	s += `<exec_method type="method" name="start" exec=":true" timeout_seconds="0"/>
<exec_method type="method" name="stop" exec=":true" timeout_seconds="0"/>
<property_group name="startd" type="framework"><propval name="duration" type="astring" value="transient"/></property_group>
</service>
`
	return s
}
