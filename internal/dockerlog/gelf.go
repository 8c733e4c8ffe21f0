package dockerlog

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

var gelfOpts = []string{"gelf-address", "gelf-compression-type", "gelf-compression-level",
	"gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay"}

// GELF's UDP chunking: datagrams of at most gelfChunkSize bytes, each a
// 12-byte header (magic, message id, number, count) and data; a message
// has at most gelfMaxChunks.
const (
	gelfChunkSize = 1420
	gelfChunkHead = 12
	gelfMaxChunks = 128
)

type gelfDriver struct {
	*sender
	udp      bool
	compress string // gzip, zlib or none
	level    int
	host     string
	extra    map[string]any
}

func newGelf(cfg map[string]string, info Info, tag string) (Driver, error) {
	if cfg["gelf-address"] == "" {
		return nil, errors.New("gelf-address is required for the gelf log driver")
	}
	proto, addr, err := address("gelf-address", cfg["gelf-address"], []string{"udp", "tcp"}, "12201")
	if err != nil {
		return nil, err
	}
	d := &gelfDriver{udp: proto == "udp", compress: "gzip", level: flate.BestSpeed, host: info.Hostname}
	if s := cfg["gelf-compression-type"]; s != "" {
		if s != "gzip" && s != "zlib" && s != "none" {
			return nil, fmt.Errorf("gelf-compression-type: unknown value %q (gzip, zlib, none)", s)
		}
		d.compress = s
	}
	if s := cfg["gelf-compression-level"]; s != "" {
		l, err := strconv.Atoi(s)
		if err != nil || l < flate.HuffmanOnly || l > flate.BestCompression {
			return nil, fmt.Errorf("gelf-compression-level: %q is not a level from -1 to 9", s)
		}
		d.level = l
	}
	env, err := extra(cfg, info)
	if err != nil {
		return nil, err
	}
	d.extra = map[string]any{
		"_container_id": info.FullID, "_container_name": info.Name,
		"_image_id": info.FullImage, "_image_name": info.Image,
		"_command": strings.Join(info.Command, " "), "_tag": tag, "_created": info.Created,
	}
	for k, v := range env {
		d.extra["_"+k] = v
	}
	d.sender = newSender(proto, addr)
	return d, nil
}

// message is m as a GELF 1.1 message: its JSON.
func (d *gelfDriver) message(m Message) []byte {
	level := sevInfo
	if m.Stream == "stderr" {
		level = sevErr
	}
	msg := map[string]any{
		"version":       "1.1",
		"host":          d.host,
		"short_message": string(m.Line),
		"timestamp":     float64(m.Time.UnixMilli()) / 1000,
		"level":         level,
	}
	for k, v := range d.extra {
		msg[k] = v
	}
	b, _ := json.Marshal(msg)
	return b
}

// packets is m as sent: on udp, compressed and cut in chunks where it
// does not fit one datagram; on tcp, the JSON ended by a NUL.
func (d *gelfDriver) packets(m Message) ([][]byte, error) {
	b := d.message(m)
	if !d.udp {
		return [][]byte{append(b, 0)}, nil
	}
	b, err := d.compressed(b)
	if err != nil {
		return nil, err
	}
	if len(b) <= gelfChunkSize {
		return [][]byte{b}, nil
	}
	return gelfChunks(b)
}

func (d *gelfDriver) compressed(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch d.compress {
	case "none":
		return b, nil
	case "zlib":
		w, err = zlib.NewWriterLevel(&buf, d.level)
	default:
		w, err = gzip.NewWriterLevel(&buf, d.level)
	}
	if err != nil {
		return nil, err
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gelfChunks cuts b into GELF chunks under one random message id.
func gelfChunks(b []byte) ([][]byte, error) {
	data := gelfChunkSize - gelfChunkHead
	n := (len(b) + data - 1) / data
	if n > gelfMaxChunks {
		return nil, fmt.Errorf("gelf: message of %d bytes needs %d chunks, more than %d", len(b), n, gelfMaxChunks)
	}
	var id [8]byte
	rand.Read(id[:])
	var out [][]byte
	for i := 0; i < n; i++ {
		part := b[i*data : min(len(b), (i+1)*data)]
		c := append([]byte{0x1e, 0x0f}, id[:]...)
		c = append(c, byte(i), byte(n))
		out = append(out, append(c, part...))
	}
	return out, nil
}

func (d *gelfDriver) Log(m Message) {
	if pkts, err := d.packets(m); err == nil {
		d.send(pkts)
	}
}
