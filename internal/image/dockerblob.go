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

	once   sync.Once
	client *http.Client
	err    error
}

func newBlobFetcher(src *DockerSource, repo name.Repository) *blobFetcher {
	return &blobFetcher{src: src, repo: repo}
}

// authorize makes the client, with a pull token for the repository; the
// registry is asked once, at the first blob.
func (b *blobFetcher) authorize(ctx context.Context) error {
	b.once.Do(func() {
		auth, err := authn.DefaultKeychain.Resolve(b.repo)
		if err == nil {
			var rt http.RoundTripper
			rt, err = transport.NewWithContext(ctx, b.repo.Registry, auth, b.src.tr, []string{b.repo.Scope(transport.PullScope)})
			b.client = &http.Client{Transport: rt}
		}
		if err != nil {
			b.err = explainRegistry(b.src.url, b.repo, err)
		}
	})
	return b.err
}

// open returns the blob digest from byte off on.
func (b *blobFetcher) open(ctx context.Context, digest string, off int64) (io.ReadCloser, error) {
	if err := b.authorize(ctx); err != nil {
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
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, http.StatusOK, http.StatusPartialContent); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resumedBody(resp, off)
}
