package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"time"

	"hull/internal/atomicfile"
	"hull/internal/vm"
	"hull/internal/zone"
)

// hostVolumeKey records a docker VM's host volumes: by target, the URL
// each is fetched from.
const hostVolumeKey = "docker:hostvolumes"

// hostVolumeTimeout bounds the fetch of one host volume.
const hostVolumeTimeout = 5 * time.Minute

type hostVolume struct {
	URL string `json:"url"`
}

// hostVolumes makes a docker VM's filesystems whose source is an http(s)
// URL host volumes, as SmartOS's vmadm does at create: the source
// becomes the file <zonepath>/hostvolumes/<target>, fetched from the URL
// at each boot, and internal_metadata docker:hostvolumes records the
// URLs by target.
func (n *Node) hostVolumes(v *vm.VM) {
	hv := map[string]hostVolume{}
	for i, fs := range v.Filesystems {
		if !vm.IsURLSource(fs.Source) {
			continue
		}
		hv[fs.Target] = hostVolume{URL: fs.Source}
		v.Filesystems[i].Source = filepath.Join(n.Zonepath(v.UUID), "hostvolumes", path.Clean(fs.Target))
	}
	if len(hv) == 0 {
		return
	}
	b, _ := json.Marshal(hv)
	if v.InternalMetadata == nil {
		v.InternalMetadata = map[string]string{}
	}
	v.InternalMetadata[hostVolumeKey] = string(b)
}

// fetchHostVolumes fetches each host volume of a docker VM into its
// source, anew, as SmartOS does before each boot.
func (n *Node) fetchHostVolumes(ctx context.Context, v *vm.VM) error {
	raw, ok := v.InternalMetadata[hostVolumeKey]
	if !zone.IsDocker(v) || !ok {
		return nil
	}
	var hv map[string]hostVolume
	if err := json.Unmarshal([]byte(raw), &hv); err != nil {
		return fmt.Errorf("%s: %w", hostVolumeKey, err)
	}
	for _, fs := range v.Filesystems {
		if h, ok := hv[fs.Target]; ok && h.URL != "" {
			if err := fetchFile(ctx, h.URL, fs.Source); err != nil {
				return fmt.Errorf("host volume %s: %w", fs.Target, err)
			}
		}
	}
	return nil
}

// fetchFile writes what url answers to file, whole or not at all.
func fetchFile(ctx context.Context, url, file string) error {
	ctx, cancel := context.WithTimeout(ctx, hostVolumeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFrom(file, resp.Body, atomicfile.Options{Mode: 0o644}); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
