package image

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

const testUUID = "5c2ab4ab-1d2f-4c8a-9a21-3d3b5f0c6a11"

// manifestJSON is a minimal valid manifest with fields set (or, for nil,
// removed) by patch.
func manifestJSON(t *testing.T, patch map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"v": 2, "uuid": testUUID, "name": "base", "version": "1.0.0",
		"type": "zone-dataset", "os": "linux",
	}
	for k, v := range patch {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseManifest(t *testing.T) {
	file := func(f map[string]any) []any { return []any{f} }
	goodFile := map[string]any{"sha1": strings.Repeat("ab", 20), "size": 100, "compression": "gzip"}
	tests := []struct {
		name  string
		patch map[string]any
		want  string // "" = valid
	}{
		{"minimal", nil, ""},
		{"full", map[string]any{
			"owner": "00000000-0000-0000-0000-000000000000", "description": "d",
			"homepage": "https://example.com", "state": "active", "disabled": false,
			"activated": true, "public": true, "published_at": "2024-01-02T03:04:05.678Z",
			"files": file(goodFile), "requirements": map[string]any{
				"min_ram": 256, "max_ram": 1024, "brand": "joyent", "ssh_key": true,
				"networks":     []any{map[string]any{"name": "net0", "description": "public"}},
				"min_platform": map[string]any{"7.0": "20130308T102805Z"},
			},
			"tags": map[string]any{"role": "os", "n": 1}, "users": []any{map[string]any{"name": "admin"}},
			"generate_passwords": true, "inherited_directories": []any{"/opt"},
			"billing_tags": []any{"a"}, "traits": map[string]any{"ssd": true},
			"origin": "6c2ab4ab-1d2f-4c8a-9a21-3d3b5f0c6a11", "acl": []any{"7c2ab4ab-1d2f-4c8a-9a21-3d3b5f0c6a11"},
		}, ""},
		{"zstd is a hull extension", map[string]any{"files": file(map[string]any{"sha1": strings.Repeat("0", 40), "size": 1, "compression": "zstd"})}, ""},
		{"zvol with HVM fields", map[string]any{"type": "zvol", "nic_driver": "virtio", "disk_driver": "virtio", "cpu_type": "host", "image_size": 10240}, ""},

		{"missing v", map[string]any{"v": nil}, "invalid manifest: v (MissingParameter)"},
		{"missing uuid", map[string]any{"uuid": nil}, "invalid manifest: uuid (MissingParameter)"},
		{"missing name", map[string]any{"name": nil}, "invalid manifest: name (MissingParameter)"},
		{"missing version", map[string]any{"version": nil}, "invalid manifest: version (MissingParameter)"},
		{"missing type", map[string]any{"type": nil}, "invalid manifest: type (MissingParameter)"},
		{"missing os", map[string]any{"os": nil}, "invalid manifest: os (MissingParameter)"},
		{"missing several", map[string]any{"name": nil, "os": nil}, "invalid manifest: name (MissingParameter), os (MissingParameter)"},
		{"null name", map[string]any{"name": json.RawMessage("null")}, "invalid manifest: name (MissingParameter)"},
		{"v 1", map[string]any{"v": 1}, "invalid manifest: v (must be 2, not 1)"},
		{"v string", map[string]any{"v": "2"}, `invalid manifest: v (not an integer: got string)`},
		{"bad uuid", map[string]any{"uuid": "nope"}, `invalid manifest: uuid (invalid uuid: "nope")`},
		{"upper-case uuid", map[string]any{"uuid": strings.ToUpper(testUUID)}, `invalid manifest: uuid (invalid uuid: "5C2AB4AB-1D2F-4C8A-9A21-3D3B5F0C6A11")`},
		{"name too long", map[string]any{"name": strings.Repeat("a", 513)}, "invalid manifest: name (image name is too long, max 512 characters)"},
		{"name 512", map[string]any{"name": strings.Repeat("a", 512)}, ""},
		{"name chars", map[string]any{"name": "a;b"}, `invalid manifest: name (image name has invalid characters (only alpha-numeric characters and " ", ".", "-", "_" and "/" are allowed))`},
		{"version too long", map[string]any{"version": strings.Repeat("1", 129)}, "invalid manifest: version (image version is too long, max 128 characters)"},
		{"version chars", map[string]any{"version": "1:2"}, `invalid manifest: version (image version has invalid characters (only alpha-numeric characters and ".", "-", "_" and "/" are allowed))`},
		{"type", map[string]any{"type": "lxd"}, `invalid manifest: type (invalid image type, "lxd", must be one of: zone-dataset, lx-dataset, zvol, docker, other)`},
		{"os", map[string]any{"os": "macos"}, `invalid manifest: os (invalid image os, "macos", must be one of: smartos, linux, windows, bsd, illumos, other)`},
		{"owner", map[string]any{"owner": "x"}, `invalid manifest: owner (invalid uuid: "x")`},
		{"origin", map[string]any{"origin": "x"}, `invalid manifest: origin (invalid uuid: "x")`},
		{"own origin", map[string]any{"origin": testUUID}, `invalid manifest: origin (an image cannot be its own origin)`},
		{"state", map[string]any{"state": "gone"}, `invalid manifest: state (invalid image state, "gone", must be one of: active, unactivated, disabled, creating, failed)`},
		{"published_at", map[string]any{"published_at": "2024-01-02"}, `invalid manifest: published_at (published_at date not in "YYYY-MM-DDTHH:MM:SS(.SSS)Z" format)`},
		{"activated without published_at", map[string]any{"activated": true, "files": file(goodFile)}, `invalid manifest: published_at (if activated is "true" published_at must be present)`},
		{"public not bool", map[string]any{"public": "yes"}, `invalid manifest: public (not a boolean: got string)`},
		{"homepage", map[string]any{"homepage": "ftp://x"}, `invalid manifest: homepage (invalid image homepage URL protocol)`},
		{"unknown field", map[string]any{"colour": "red"}, `invalid manifest: colour (unknown manifest field)`},

		{"files two", map[string]any{"files": []any{goodFile, goodFile}}, `invalid manifest: files (invalid image "files": too many files)`},
		{"files no sha1", map[string]any{"files": file(map[string]any{"size": 1, "compression": "gzip"})}, `invalid manifest: files (invalid image "files": file missing "sha1" field)`},
		{"docker file by digest", map[string]any{"type": "docker", "files": file(map[string]any{"digest": "sha256:" + strings.Repeat("a", 64), "size": 1, "compression": "gzip"})}, ""},
		{"docker file bad digest", map[string]any{"type": "docker", "files": file(map[string]any{"digest": "sha256:xyz", "size": 1, "compression": "gzip"})}, `invalid manifest: files (invalid image "files": "digest" "sha256:xyz" is not sha256:<64 hex digits>)`},
		{"digest only for docker", map[string]any{"files": file(map[string]any{"digest": "sha256:" + strings.Repeat("a", 64), "size": 1, "compression": "gzip"})}, `invalid manifest: files (invalid image "files": file missing "sha1" field)`},
		{"files bad sha1", map[string]any{"files": file(map[string]any{"sha1": "xyz", "size": 1, "compression": "gzip"})}, `invalid manifest: files (invalid image "files": "sha1" "xyz" is not 40 lower-case hex digits)`},
		{"files no size", map[string]any{"files": file(map[string]any{"sha1": strings.Repeat("0", 40), "compression": "gzip"})}, `invalid manifest: files (invalid image "files": file missing "size" field)`},
		{"files no compression", map[string]any{"files": file(map[string]any{"sha1": strings.Repeat("0", 40), "size": 1})}, `invalid manifest: files (invalid image "files": file missing "compression" field)`},
		{"files compression", map[string]any{"files": file(map[string]any{"sha1": strings.Repeat("0", 40), "size": 1, "compression": "lz4"})}, `invalid manifest: files (invalid image "files": invalid compression "lz4" (must be one of bzip2, gzip, xz, none, zstd))`},
		{"files not array", map[string]any{"files": "x"}, `invalid manifest: files (not an array: got string)`},

		{"min_ram > max_ram", map[string]any{"requirements": map[string]any{"min_ram": 1024, "max_ram": 512}}, `invalid manifest: requirements.max_ram (min_ram must be <= max_ram, but: min_ram=1024, max_ram=512)`},
		{"min_ram negative", map[string]any{"requirements": map[string]any{"min_ram": -1}}, `invalid manifest: requirements.min_ram (invalid image "requirements.min_ram" (not a positive integer): -1)`},
		{"unknown requirement", map[string]any{"requirements": map[string]any{"gpu": true}}, `invalid manifest: requirements.gpu (unsupported requirement "gpu")`},
		{"requirements not object", map[string]any{"requirements": []any{}}, `invalid manifest: requirements (invalid image "requirements" (not an object): [])`},
		{"min_platform", map[string]any{"requirements": map[string]any{"min_platform": map[string]any{"7.0": "2013"}}}, `invalid manifest: requirements.min_platform (invalid image "requirements.min_platform" entry: "7.0: 2013" not a valid platform version)`},
		{"bootrom without brand", map[string]any{"requirements": map[string]any{"bootrom": "uefi"}}, `invalid manifest: requirements.bootrom ("requirements.brand" not specified. "requirements.bootrom" requires "requirements.brand" to be set to "bhyve")`},
		{"network entry", map[string]any{"requirements": map[string]any{"networks": []any{map[string]any{"name": "n"}}}}, `invalid manifest: requirements.networks (invalid image "requirements.networks" entry: needs "name" and "description")`},

		{"inherited_directories not zone-dataset", map[string]any{"type": "lx-dataset", "inherited_directories": []any{"/opt"}}, `invalid manifest: inherited_directories (invalid image "inherited_directories" (only valid for a type:zone-dataset image))`},
		{"zvol needs drivers", map[string]any{"type": "zvol"}, `invalid manifest: nic_driver (MissingParameter), disk_driver (MissingParameter), cpu_type (MissingParameter), image_size (MissingParameter)`},
		{"cpu_type on zone", map[string]any{"cpu_type": "host"}, `invalid manifest: cpu_type (only valid for a type:zvol image)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest(manifestJSON(t, tt.patch))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if m.UUID != testUUID && tt.patch["uuid"] == nil {
					t.Errorf("uuid = %q", m.UUID)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidManifest) {
				t.Errorf("error does not wrap ErrInvalidManifest")
			}
		})
	}
}

func TestParseManifestNotJSON(t *testing.T) {
	for _, in := range []string{"", "{", "[]", "null", "42"} {
		_, err := ParseManifest([]byte(in))
		if err == nil || !errors.Is(err, ErrInvalidManifest) || !strings.HasPrefix(err.Error(), "manifest is invalid") {
			t.Errorf("ParseManifest(%q) = %v", in, err)
		}
	}
}

// A manifest read and written back keeps its fields, including false
// booleans and an empty requirements object.
func TestManifestRoundTrip(t *testing.T) {
	in := `{"v":2,"uuid":"` + testUUID + `","owner":"00000000-0000-0000-0000-000000000000","name":"busybox","version":"1.35.0-4","state":"active","disabled":false,"public":true,"published_at":"2024-01-02T03:04:05.000Z","type":"zone-dataset","os":"linux","files":[{"sha1":"` + strings.Repeat("a", 40) + `","size":12,"compression":"gzip"}],"requirements":{}}`
	m, err := ParseManifest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	json.Unmarshal([]byte(in), &a)
	json.Unmarshal(out, &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("round trip changed the manifest:\n in %s\nout %s", ja, jb)
	}
}

// Every compression a manifest may name can be written by create.
func TestCompressionsWritable(t *testing.T) {
	for _, c := range Compressions {
		if _, ok := compressionExt[c]; !ok {
			t.Errorf("no file suffix for %q", c)
		}
		if _, err := compressor(io.Discard, c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	if len(compressionExt) != len(Compressions) {
		t.Errorf("suffixes for %d compressions, manifests know %d", len(compressionExt), len(Compressions))
	}
}
