package image

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// blobFetcher gets a repository's layer blobs from a docker source by
// byte range, so that a layer download cut off (connection lost, a 5xx,
// a stalled registry) resumes where it stopped, as docker's pull does,
// instead of failing the import. Its requests carry the credentials and
// token the registry wants, as go-containerregistry's own do.
type blobFetcher struct {
	src  *DockerSource
	repo name.Repository

	mu     sync.Mutex
	client *http.Client // once authorized
}

func newBlobFetcher(src *DockerSource, repo name.Repository) *blobFetcher {
	return &blobFetcher{src: src, repo: repo}
}

// authorize makes the client, with a pull token for the repository: the
// registry is asked at the first blob, and again after a failure (a
// token server's hiccup is retried with the download).
func (b *blobFetcher) authorize(ctx context.Context) (*http.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client != nil {
		return b.client, nil
	}
	auth, err := authn.DefaultKeychain.Resolve(b.repo)
	if err != nil {
		return nil, explainRegistry(b.src.url, b.repo, err)
	}
	rt, err := transport.NewWithContext(ctx, b.repo.Registry, auth, b.src.tr, []string{b.repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, explainRegistry(b.src.url, b.repo, err)
	}
	b.client = &http.Client{Transport: rt}
	return b.client, nil
}

// open returns the blob digest from byte off on.
func (b *blobFetcher) open(ctx context.Context, digest string, off int64) (io.ReadCloser, error) {
	client, err := b.authorize(ctx)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(b.src.url)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/v2/" + b.repo.RepositoryStr() + "/blobs/" + digest
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, http.StatusOK, http.StatusPartialContent); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resumedBody(resp, off)
}
