package image

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// IMGAPI is a client of an IMGAPI server (SmartOS's image repository
// protocol): ListImages, GetImage, GetImageFile, and the publish calls
// AdminImportImage, AddImageFile and ActivateImage.
type IMGAPI struct {
	base    *url.URL
	channel string
	// Client does the requests. It has no overall timeout: an image file
	// takes as long as it takes; stalls are caught by the importer.
	Client *http.Client
	// PageSize is ListImages' limit per request (IMGAPI's maximum, 1000,
	// unless set).
	PageSize int
	// Token authenticates publish calls (hull's IMGAPI server).
	Token string
}

// APIError is an IMGAPI error response: its HTTP status and the body's
// code and message.
type APIError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	// Errors are a ValidationFailed or InvalidParameter error's fields.
	Errors []struct {
		Field   string `json:"field"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// NewIMGAPI makes a client for the server at rawURL (a "?channel=NAME"
// query selects a channel). insecure skips TLS certificate checks.
func NewIMGAPI(rawURL string, insecure bool) (*IMGAPI, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid IMGAPI url: %q", rawURL)
	}
	c := &IMGAPI{base: u, channel: u.Query().Get("channel"), PageSize: 1000}
	u.RawQuery = ""
	u.Path = strings.TrimRight(u.Path, "/")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 60 * time.Second
	tr.DisableCompression = true
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	c.Client = &http.Client{Transport: traced{tr}}
	return c, nil
}

// URL is the server's URL.
func (c *IMGAPI) URL() string {
	u := *c.base
	if c.channel != "" {
		u.RawQuery = url.Values{"channel": {c.channel}}.Encode()
	}
	return u.String()
}

// Type is "imgapi".
func (c *IMGAPI) Type() string { return "imgapi" }

func (c *IMGAPI) endpoint(p string, q url.Values) string {
	u := *c.base
	u.Path += p
	if q == nil {
		q = url.Values{}
	}
	if c.channel != "" && q.Get("channel") == "" {
		q.Set("channel", c.channel)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// do sends one request; a non-2xx answer is an *APIError.
func (c *IMGAPI) do(ctx context.Context, method, p string, q url.Values, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(p, q), body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c.header(req)
	resp, err := c.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, apiError(resp)
	}
	return resp, nil
}

// header sets what every request carries: the API version imgadm speaks
// (IMGAPI's Accept-Version), who asks, and the token if there is one.
func (c *IMGAPI) header(req *http.Request) {
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Version", "~2")
	req.Header.Set("User-Agent", "imgadm/hull")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
}

// apiError reads a failed response: IMGAPI's {"code", "message",
// "errors"}, or whatever else the body says.
func apiError(resp *http.Response) *APIError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(b, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	return e
}

func (c *IMGAPI) getJSON(ctx context.Context, p string, q url.Values, v any) error {
	resp, err := c.do(ctx, http.MethodGet, p, q, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: bad response to GET %s: %w", c.URL(), p, err)
	}
	return nil
}

// Ping calls GET /ping.
func (c *IMGAPI) Ping(ctx context.Context) error {
	var pong struct {
		Ping   string `json:"ping"`
		IMGAPI bool   `json:"imgapi"`
	}
	if err := c.getJSON(ctx, "/ping", nil, &pong); err != nil {
		return err
	}
	if pong.Ping != "pong" || !pong.IMGAPI {
		return errors.New(`not an IMGAPI server (no {"ping": "pong", "imgapi": true} from /ping)`)
	}
	return nil
}

// List pages through GET /images with limit and marker. The marker is
// inclusive (images published at or after it), so the page's first
// image, already seen, is dropped.
func (c *IMGAPI) List(ctx context.Context) ([]*Manifest, error) {
	limit := c.PageSize
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var out []*Manifest
	seen := map[string]bool{}
	marker := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if marker != "" {
			q.Set("marker", marker)
		}
		var page []*Manifest
		if err := c.getJSON(ctx, "/images", q, &page); err != nil {
			return nil, fmt.Errorf("source %s: list images: %w", c.URL(), err)
		}
		added := 0
		for _, m := range page {
			if m == nil || seen[m.UUID] {
				continue
			}
			seen[m.UUID] = true
			out = append(out, m)
			added++
		}
		if len(page) < limit || added == 0 {
			return out, nil
		}
		marker = page[len(page)-1].UUID
	}
}

// Get calls GET /images/:uuid and checks the manifest.
func (c *IMGAPI) Get(ctx context.Context, uuid string) (*Manifest, error) {
	if !ValidUUID(uuid) {
		return nil, fmt.Errorf("invalid uuid: %q", uuid)
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, "/images/"+uuid, nil, &raw); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return nil, fmt.Errorf("image %s in %s: %w", uuid, c.URL(), ErrNotInSource)
		}
		return nil, fmt.Errorf("source %s: get image %s: %w", c.URL(), uuid, err)
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("image %s from %s: %w", uuid, c.URL(), err)
	}
	if m.UUID != uuid {
		return nil, fmt.Errorf("image %s from %s: the server sent image %s", uuid, c.URL(), m.UUID)
	}
	return m, nil
}

// Channel is the channel the source was configured with ("" for none).
func (c *IMGAPI) Channel() string { return c.channel }

// OpenFile calls GET /images/:uuid/file, with a Range header to resume.
// A server that ignores the range is read past the bytes already had.
func (c *IMGAPI) OpenFile(ctx context.Context, uuid string, offset int64) (io.ReadCloser, error) {
	hdr := http.Header{}
	if offset > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := c.do(ctx, http.MethodGet, "/images/"+uuid+"/file", nil, nil, hdr)
	if err != nil {
		return nil, err
	}
	return resumedBody(resp, offset)
}

// ImportImage is AdminImportImage: the manifest (sent as it is, for the
// server to validate) becomes an unactivated image that keeps its uuid.
func (c *IMGAPI) ImportImage(ctx context.Context, uuid string, manifest []byte) (*Manifest, error) {
	return c.post(ctx, "/images/"+uuid, url.Values{"action": {"import"}}, bytes.NewReader(manifest))
}

// AddImageFile is AddImageFile: the file (size bytes, the request's
// Content-Length) is uploaded with its compression and, when known, its
// sha1 for the server to check.
func (c *IMGAPI) AddImageFile(ctx context.Context, uuid string, file io.Reader, size int64, f File) (*Manifest, error) {
	q := url.Values{"compression": {f.Compression}}
	if f.SHA1 != "" {
		q.Set("sha1", f.SHA1)
	}
	if f.DatasetGUID != "" {
		q.Set("dataset_guid", f.DatasetGUID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.endpoint("/images/"+uuid+"/file", q), file)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	c.header(req)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, apiError(resp)
	}
	m := &Manifest{}
	if err := json.NewDecoder(resp.Body).Decode(m); err != nil {
		return nil, fmt.Errorf("bad response: %w", err)
	}
	return m, nil
}

// ActivateImage is ActivateImage.
func (c *IMGAPI) ActivateImage(ctx context.Context, uuid string) (*Manifest, error) {
	return c.post(ctx, "/images/"+uuid, url.Values{"action": {"activate"}}, nil)
}

// DeleteImage is DeleteImage.
func (c *IMGAPI) DeleteImage(ctx context.Context, uuid string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/images/"+uuid, nil, nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (c *IMGAPI) post(ctx context.Context, p string, q url.Values, body io.Reader) (*Manifest, error) {
	hdr := http.Header{}
	if body != nil {
		hdr.Set("Content-Type", "application/json")
	}
	resp, err := c.do(ctx, http.MethodPost, p, q, body, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := &Manifest{}
	if err := json.NewDecoder(resp.Body).Decode(m); err != nil {
		return nil, fmt.Errorf("bad response: %w", err)
	}
	return m, nil
}
