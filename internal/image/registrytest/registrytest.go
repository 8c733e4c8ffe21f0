// Package registrytest runs a real docker registry (Debian's
// docker-registry, the distribution project's server) on loopback for
// tests, and builds small docker images from hull's busybox test image.
package registrytest

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"hull/internal/image"
	"hull/internal/image/imagetest"
	"hull/internal/testenv"
)

// Binary is the registry server Debian's docker-registry package installs.
const Binary = "/usr/bin/docker-registry"

// Registry is a running registry.
type Registry struct {
	URL     string // http://127.0.0.1:PORT (https:// with StartTLS)
	Host    string // 127.0.0.1:PORT
	Dir     string // its storage
	User    string // with auth: the one user and its password
	Pass    string
	Process *os.Process
	tls     bool // a certificate of its own, which clients cannot check
}

// Start runs a registry storing into a temporary directory; with auth it
// wants basic credentials (User/Pass) for everything. It is killed when
// the test ends.
func Start(t testing.TB, auth bool) *Registry {
	t.Helper()
	return start(t, auth, false)
}

// StartTLS runs a registry as Start does, serving https with a
// self-signed certificate.
func StartTLS(t testing.TB) *Registry {
	t.Helper()
	return start(t, false, true)
}

func start(t testing.TB, auth, useTLS bool) *Registry {
	testenv.Require(t, fileExists(Binary), "docker-registry is not installed (apt-get install docker-registry)")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	r := &Registry{URL: "http://" + host, Host: host, Dir: filepath.Join(dir, "data"), tls: useTLS}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, r.Dir, host)
	if auth {
		testenv.Require(t, fileExists("/usr/bin/htpasswd"), "htpasswd is not installed (apt-get install apache2-utils)")
		r.User, r.Pass = "hull", "s3cret-pass"
		out, err := exec.Command("htpasswd", "-Bbn", r.User, r.Pass).Output()
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, out, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: hull-test\n    path: %s\n", pw)
	}
	if useTLS {
		r.URL = "https://" + host
		cert, key := selfSigned(t, dir)
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logb bytes.Buffer
	cmd := exec.Command(Binary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start registry: %v", err)
	}
	r.Process = cmd.Process
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(15 * time.Second)
	client := &http.Client{Transport: r.transport()}
	for {
		resp, err := client.Get(r.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		select {
		case <-done:
			t.Fatalf("registry exited: %s", logb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not answer on %s: %v\n%s", r.URL, err, logb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Ref names repo:tag in this registry.
func (r *Registry) Ref(t testing.TB, repoTag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// Push writes img as repo:tag.
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) {
	t.Helper()
	if err := remote.Write(r.Ref(t, repoTag), img, r.auth()...); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
}

// PushIndex pushes a multi-platform image index as repoTag.
func (r *Registry) PushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) {
	t.Helper()
	if err := remote.WriteIndex(r.Ref(t, repoTag), idx, r.auth()...); err != nil {
		t.Fatalf("push index %s: %v", repoTag, err)
	}
}

// auth is how the test pushes: as the registry's user, if it has one,
// not checking the certificate of a TLS registry.
func (r *Registry) auth() []remote.Option {
	opts := []remote.Option{remote.WithTransport(r.transport())}
	if r.User != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Pass}))
	}
	return opts
}

func (r *Registry) transport() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.tls {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return tr
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t testing.TB, dir string) (certPath, keyPath string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hull test registry"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// BusyboxLayer is hull's busybox test image file as a docker layer.
func BusyboxLayer(t testing.TB) v1.Layer {
	t.Helper()
	_, f := imagetest.Busybox(t)
	l, err := tarball.LayerFromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// File is one entry of a layer built by Layer: a regular file, or a
// directory when Name ends in "/", or a symlink when Link is set.
type File struct {
	Name string
	Body string
	Mode int64
	Link string
}

// Layer builds a gzip'd layer from files (whiteouts are files named
// ".wh.NAME").
func Layer(t testing.TB, files ...File) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: f.Mode, ModTime: time.Unix(1700000000, 0)}
		switch {
		case strings.HasSuffix(f.Name, "/"):
			h.Typeflag = tar.TypeDir
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case f.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Body))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.Body))
	}
	tw.Close()
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Image stacks layers (base first) with the given run config.
func Image(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	cf.Config = cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// RunScript is /app/run.sh of image A: it reports its environment and
// arguments, and exits 7.
const RunScript = `#!/bin/sh
echo "greeting=$GREETING pwd=$(pwd) user=$(id -u) args=$*"
exit 7
`

// TestImages are two images sharing the busybox base layer. A runs
// /app/run.sh from /app with GREETING=hello, and its second layer
// deletes /bin/vi with a whiteout; B only adds /b.txt.
func TestImages(t testing.TB) (a, b v1.Image) {
	t.Helper()
	base := BusyboxLayer(t)
	appA := Layer(t, File{Name: "app/"}, File{Name: "app/run.sh", Body: RunScript, Mode: 0o755},
		File{Name: "bin/.wh.vi"})
	appB := Layer(t, File{Name: "b.txt", Body: "image b\n"})
	a = Image(t, v1.Config{
		Entrypoint: []string{"/app/run.sh"}, Cmd: []string{"from-image"},
		Env:        []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"},
		WorkingDir: "/app",
	}, base, appA)
	b = Image(t, v1.Config{Cmd: []string{"/bin/cat", "/b.txt"}}, base, appB)
	return a, b
}

// LayerUUIDs are the image uuids of img's layers, base first.
func LayerUUIDs(t testing.TB, img v1.Image) []string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var ds []string
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d.String())
	}
	u, err := image.DockerLayerUUIDs(ds)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
