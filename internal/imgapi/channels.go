package imgapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"

	"hull/internal/image"
)

// A server may keep its images in channels, as IMGAPI does (the updates
// server's dev, staging, release): each is a set of the repository's
// images, an image may be in several, and every call works in the one its
// "channel" parameter names, or the default channel.

// Channel is one of the server's channels.
type Channel struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Default     bool   `json:"default,omitempty"`
}

var channelNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// LoadChannels reads a channels file: a JSON array of channels, as in
// IMGAPI's configuration.
func LoadChannels(path string) ([]Channel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	var cs []Channel
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("channels %s: %w", path, err)
	}
	if err := checkChannels(cs); err != nil {
		return nil, fmt.Errorf("channels %s: %w", path, err)
	}
	return cs, nil
}

// checkChannels applies IMGAPI's rules: at least one, names that match
// ^[a-z][a-z0-9_-]*$, once each, a description, at most one default.
func checkChannels(cs []Channel) error {
	if len(cs) == 0 {
		return errors.New("no channels")
	}
	seen := map[string]bool{}
	def := ""
	for i, c := range cs {
		switch {
		case !channelNameRE.MatchString(c.Name):
			return fmt.Errorf("invalid channel name: %q, must match %s", c.Name, channelNameRE)
		case seen[c.Name]:
			return fmt.Errorf("channel %q is given twice", c.Name)
		case c.Description == "":
			return fmt.Errorf("channel %d (%s) has no description", i, c.Name)
		case c.Default && def != "":
			return fmt.Errorf("cannot have multiple *default* channels: %q and %q", def, c.Name)
		}
		seen[c.Name] = true
		if c.Default {
			def = c.Name
		}
	}
	return nil
}

// channelOf is the channel a request works in (IMGAPI's reqChannel):
// nil on a server without channels, and, where allowStar, for "*" (all
// of them).
func (s *Server) channelOf(r *http.Request, allowStar bool) (*Channel, error) {
	if len(s.Channels) == 0 {
		return nil, nil
	}
	name := r.URL.Query().Get("channel")
	if name == "*" && allowStar {
		return nil, nil
	}
	for i, c := range s.Channels {
		if name == "" && c.Default || name != "" && c.Name == name {
			return &s.Channels[i], nil
		}
	}
	e := errorf(422, "ValidationFailed", "unknown channel: %s", name)
	e.Errors = []fieldError{{Field: "channel", Code: "Invalid"}}
	if name == "" {
		e.Message = "channel not specified and the server has no default channel"
		e.Errors[0].Code = "MissingParameter"
	}
	return nil, e
}

// inChannel tells whether m is in c (nil: any).
func inChannel(m *image.Manifest, c *Channel) bool {
	return c == nil || slices.Contains(m.Channels, c.Name)
}

// imageIn is the image uuid as the request's channel has it: not found
// when it is in another channel only.
func (s *Server) imageIn(r *http.Request, uuid string, allowStar bool) (*record, *Channel, error) {
	c, err := s.channelOf(r, allowStar)
	if err != nil {
		return nil, nil, err
	}
	rec, ok := s.Repo.get(uuid)
	if !ok || !inChannel(rec.Manifest, c) {
		return nil, nil, errorf(404, "ResourceNotFound", "image not found")
	}
	return rec, c, nil
}

// listChannels is ListChannels (GET /channels), on a server with channels.
func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) error {
	if len(s.Channels) == 0 {
		return errorf(404, "ResourceNotFound", "%s does not exist", r.URL.Path)
	}
	writeJSON(w, 200, s.Channels)
	return nil
}

// channelAdd is ChannelAddImage (POST /images/:uuid?action=channel-add,
// body {"channel": NAME}): the image, found in the request's channel,
// joins another.
func (s *Server) channelAdd(r *http.Request, uuid string) (*image.Manifest, error) {
	if len(s.Channels) == 0 {
		return nil, errorf(422, "InvalidParameter", "unsupported action: %q", "channel-add")
	}
	if _, _, err := s.imageIn(r, uuid, false); err != nil {
		return nil, err
	}
	var body struct {
		Channel string `json:"channel"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	if err != nil {
		return nil, errorf(400, "BadRequestError", "invalid body: %v", err)
	}
	if !slices.ContainsFunc(s.Channels, func(c Channel) bool { return c.Name == body.Channel }) {
		e := errorf(422, "ValidationFailed", "unknown channel: %s", body.Channel)
		e.Errors = []fieldError{{Field: "channel", Code: "Invalid"}}
		return nil, e
	}
	return s.Repo.setChannels(uuid, func(cs []string) []string {
		if slices.Contains(cs, body.Channel) {
			return cs
		}
		return append(cs, body.Channel)
	})
}

// removeFrom is DeleteImage on a server with channels: an image in other
// channels too only leaves c, unless force_all_channels.
func (s *Server) removeFrom(r *http.Request, uuid string) (left bool, err error) {
	rec, c, err := s.imageIn(r, uuid, false)
	if err != nil || c == nil {
		return false, err
	}
	force := false
	if v := r.URL.Query().Get("force_all_channels"); v != "" {
		if force, err = strconv.ParseBool(v); err != nil {
			return false, invalid("force_all_channels", "invalid \"force_all_channels\" parameter: %q", v)
		}
	}
	if force || len(rec.Manifest.Channels) <= 1 {
		return false, nil
	}
	_, err = s.Repo.setChannels(uuid, func(cs []string) []string {
		return slices.DeleteFunc(cs, func(n string) bool { return n == c.Name })
	})
	return err == nil, err
}
