package image

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
)

// dockerImageID is the tag of the manifest that carries a docker image's
// config: the config's digest, docker's image id.
const dockerImageID = "docker:imageid"

// A docker image is its top layer, whose manifest carries the image's
// config (docker:config), repository and tags. Two images may have the
// same layers and differ in their config alone (an image that only
// changes another's CMD, say): the layers are shared, and the second
// image is an empty layer on top of them that carries its config, with a
// uuid from the top layer's and the config's digest. An image whose
// layers are the lower layers of another gets its config on its top
// layer, which had none.

// DockerTarget is the uuid of the image that the import of the docker
// image whose top layer manifest is top ends with, by what is installed
// now: its top layer's, or that of the empty layer carrying its config.
func (im *Importer) DockerTarget(top *Manifest) string {
	if im.Store == nil {
		return top.UUID
	}
	have, err := im.Store.Get(top.UUID)
	if err != nil || carriesConfig(have.Manifest, top) {
		return top.UUID
	}
	return dockerConfigUUID(top)
}

// carriesConfig tells whether an installed top layer (have) can carry
// the config of the image whose top layer manifest is want: it carries
// that config already, or none.
func carriesConfig(have, want *Manifest) bool {
	return have.Tags["docker:config"] == nil || sameDockerConfig(have, want)
}

// dockerTop makes the image that stands for an import whose top layer,
// now installed, is last: last itself, when it carries want's config
// (as when this import installed it) or none yet; else an empty layer on
// top of it. The image gains want's repository tag.
func (im *Importer) dockerTop(ctx context.Context, last *Image, want *Manifest, source string) (*Image, error) {
	if carriesConfig(last.Manifest, want) {
		return im.mergeDockerTags(last, want, last.Manifest.Tags["docker:config"] == nil)
	}
	m := *want
	m.UUID, m.Origin = dockerConfigUUID(want), want.UUID
	id, _ := want.Tags[dockerImageID].(string)
	m.Version = strings.TrimPrefix(id, "sha256:")
	m.Version = m.Version[:min(12, len(m.Version))]
	m.Files = nil
	m.Tags = maps.Clone(want.Tags)
	m.Tags["docker:id"] = id
	img, err := im.Store.install(ctx, &m, InstallOptions{Source: source, Waiting: im.lockWait(m.UUID)}, func(string) error { return nil })
	var ai *AlreadyInstalledError
	if errors.As(err, &ai) {
		return im.mergeDockerTags(ai.Image, want, false)
	}
	if err != nil {
		return nil, err
	}
	im.logf("Imported image %s (%s@%s)", m.UUID, m.Name, m.Version)
	return img, nil
}

// mergeDockerTags gives an installed image want's docker:tag:* tags and,
// with config, its config, image id and repository too.
func (im *Importer) mergeDockerTags(img *Image, want *Manifest, config bool) (*Image, error) {
	m := *img.Manifest
	m.Tags = maps.Clone(img.Manifest.Tags)
	if m.Tags == nil {
		m.Tags = map[string]any{}
	}
	changed := false
	for k, v := range want.Tags {
		keep := strings.HasPrefix(k, "docker:tag:") ||
			config && (k == "docker:config" || k == dockerImageID || k == "docker:repo")
		if _, has := m.Tags[k]; keep && (!has || config) {
			m.Tags[k], changed = v, true
		}
	}
	if !changed {
		return img, nil
	}
	if err := im.Store.UpdateManifest(&m, ""); err != nil {
		return nil, err
	}
	out := *img
	out.Manifest = &m
	return &out, nil
}

// sameDockerConfig tells whether two manifests carry the same config.
func sameDockerConfig(a, b *Manifest) bool {
	ca, cb := DockerConfigOf(a), DockerConfigOf(b)
	if ca == nil || cb == nil {
		return ca == cb
	}
	ja, _ := json.Marshal(ca)
	jb, _ := json.Marshal(cb)
	return string(ja) == string(jb)
}

// dockerConfigUUID is the uuid of the empty layer that carries the config
// of the image whose top layer manifest is top.
func dockerConfigUUID(top *Manifest) string {
	id, _ := top.Tags[dockerImageID].(string)
	return uuidOfSum(top.UUID + " " + id)
}
