// Package dockerlog ships a docker zone's output to a log server, as the
// docker log drivers SmartOS runs in a docker zone do for
// docker:logdriver syslog, gelf and fluentd, with the options of
// docker:logconfig (docker's --log-opt). Each driver's wire format is a
// pure function of a message; sending is a small step apart.
package dockerlog

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

// Info is the container the output is of, for tags and extra fields.
type Info struct {
	FullID    string    `json:"id,omitempty"`         // docker:id, 64 hex digits
	Name      string    `json:"name,omitempty"`       // the VM's alias
	FullImage string    `json:"image_id,omitempty"`   // docker:imageid
	Image     string    `json:"image_name,omitempty"` // docker:imagename
	Command   []string  `json:"command,omitempty"`    // entrypoint and cmd
	Created   time.Time `json:"created"`              // create_timestamp
	Env       []string  `json:"env,omitempty"`        // docker:env, KEY=VALUE
	Hostname  string    `json:"hostname,omitempty"`   // the zone's, when empty
}

// Spec is a zone's logger: what dockerinit is given to start it.
type Spec struct {
	Driver string `json:"driver"`
	Config string `json:"config,omitempty"` // docker:logconfig: a JSON object of the options
	Info   Info   `json:"info"`
}

// Start starts the driver the spec names, with its options.
func (s Spec) Start() (Driver, error) {
	var cfg map[string]string
	if s.Config != "" {
		if err := json.Unmarshal([]byte(s.Config), &cfg); err != nil {
			return nil, fmt.Errorf("docker:logconfig is not a JSON object of strings: %w", err)
		}
	}
	return New(s.Driver, cfg, s.Info)
}

// ID is the short container id, as docker shows it.
func (i Info) ID() string { return short(i.FullID) }

// ImageFullID is the image's full id.
func (i Info) ImageFullID() string { return i.FullImage }

// ImageID is the image's short id.
func (i Info) ImageID() string { return short(strings.TrimPrefix(i.FullImage, "sha256:")) }

// ImageName is the image's name.
func (i Info) ImageName() string { return i.Image }

// DaemonName names what runs the container, for the tag's
// {{.DaemonName}}.
func (i Info) DaemonName() string { return "docker" }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Message is a line of output, without its newline.
type Message struct {
	Stream string // stdout or stderr
	Line   []byte
	Time   time.Time
}

// Driver sends messages to a log server.
type Driver interface {
	// Log sends m, or drops it when the server cannot be reached.
	Log(m Message)
	Close() error
}

// Drivers are the drivers with a server: json-file and none keep no
// logger in the zone.
var Drivers = []string{"syslog", "gelf", "fluentd"}

// New returns the driver named with the options cfg, or what is wrong
// with them.
func New(driver string, cfg map[string]string, info Info) (Driver, error) {
	var known []string
	switch driver {
	case "syslog":
		known = syslogOpts
	case "gelf":
		known = gelfOpts
	case "fluentd":
		known = fluentdOpts
	default:
		return nil, fmt.Errorf("logger: no log driver named '%s' is registered", driver)
	}
	for k := range cfg {
		if !slices.Contains(known, k) && !slices.Contains(commonOpts, k) {
			return nil, fmt.Errorf("unknown log opt '%s' for %s log driver", k, driver)
		}
	}
	tag, err := Tag(cfg["tag"], info)
	if err != nil {
		return nil, err
	}
	if info.Hostname == "" {
		info.Hostname, _ = os.Hostname()
	}
	switch driver {
	case "syslog":
		return newSyslog(cfg, info, tag)
	case "gelf":
		return newGelf(cfg, info, tag)
	default:
		return newFluentd(cfg, info, tag)
	}
}

// commonOpts are the options every driver takes.
var commonOpts = []string{"tag", "labels", "env", "env-regex"}

// Tag is a tag template's text for info ("{{.ID}}" when tmpl is empty,
// as docker's default).
func Tag(tmpl string, info Info) (string, error) {
	if tmpl == "" {
		tmpl = "{{.ID}}"
	}
	t, err := template.New("log-tag").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("tag: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, info); err != nil {
		return "", fmt.Errorf("tag: %w", err)
	}
	return b.String(), nil
}

// extra is the container's environment that cfg's env and env-regex
// name, as docker adds it to a gelf or fluentd message.
func extra(cfg map[string]string, info Info) (map[string]string, error) {
	var names []string
	if s := cfg["env"]; s != "" {
		names = strings.Split(s, ",")
	}
	var re *regexp.Regexp
	if s := cfg["env-regex"]; s != "" {
		var err error
		if re, err = regexp.Compile(s); err != nil {
			return nil, fmt.Errorf("env-regex: %w", err)
		}
	}
	out := map[string]string{}
	for _, kv := range info.Env {
		k, v, _ := strings.Cut(kv, "=")
		if slices.Contains(names, k) || (re != nil && re.MatchString(k)) {
			out[k] = v
		}
	}
	return out, nil
}

// address splits a driver's address option, "proto://host[:port]",
// into its protocol (one of protos) and host:port, with port def when
// it has none.
func address(opt, s string, protos []string, def string) (proto, hostport string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || !strings.Contains(s, "://") {
		return "", "", fmt.Errorf("%s should be in form proto://address, got %q", opt, s)
	}
	if !slices.Contains(protos, u.Scheme) {
		return "", "", fmt.Errorf("%s: unsupported protocol %q (%s)", opt, u.Scheme, strings.Join(protos, ", "))
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("%s should be in form proto://address, got %q", opt, s)
	}
	hostport = u.Host
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		hostport = net.JoinHostPort(u.Hostname(), def)
	}
	return u.Scheme, hostport, nil
}
