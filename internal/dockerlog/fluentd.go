package dockerlog

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
)

var fluentdOpts = []string{"fluentd-address", "fluentd-buffer-limit", "fluentd-retry-wait",
	"fluentd-max-retries", "fluentd-async", "fluentd-async-connect", "fluentd-sub-second-precision",
	"fluentd-request-ack"}

type fluentdDriver struct {
	*sender
	tag       string
	subSecond bool
	record    map[string]string // the fields every record has
}

func newFluentd(cfg map[string]string, info Info, tag string) (Driver, error) {
	// As in SmartOS, the address is required.
	a := cfg["fluentd-address"]
	if a == "" {
		return nil, errors.New("fluentd-address is required for the fluentd log driver")
	}
	if !strings.Contains(a, "://") {
		a = "tcp://" + a
	}
	_, addr, err := address("fluentd-address", a, []string{"tcp"}, "24224")
	if err != nil {
		return nil, err
	}
	d := &fluentdDriver{tag: tag}
	if s := cfg["fluentd-sub-second-precision"]; s != "" {
		if d.subSecond, err = strconv.ParseBool(s); err != nil {
			return nil, errors.New("fluentd-sub-second-precision: not true or false")
		}
	}
	env, err := extra(cfg, info)
	if err != nil {
		return nil, err
	}
	d.record = map[string]string{"container_id": info.FullID, "container_name": "/" + info.Name}
	maps.Copy(d.record, env)
	d.sender = newSender("tcp", addr)
	return d, nil
}

// message is m in fluentd's forward protocol: the MessagePack array
// [tag, time, record], record holding the line as "log" and its stream
// as "source".
func (d *fluentdDriver) message(m Message) []byte {
	rec := maps.Clone(d.record)
	rec["source"] = m.Stream
	rec["log"] = string(m.Line)
	b := []byte{0x93}
	b = mpString(b, d.tag)
	if d.subSecond {
		// EventTime: extension type 0, seconds and nanoseconds.
		b = append(b, 0xd7, 0x00)
		b = binary.BigEndian.AppendUint32(b, uint32(m.Time.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(m.Time.Nanosecond()))
	} else {
		b = append(b, 0xd3)
		b = binary.BigEndian.AppendUint64(b, uint64(m.Time.Unix()))
	}
	b = mpMapHeader(b, len(rec))
	for _, k := range slices.Sorted(maps.Keys(rec)) {
		b = mpString(mpString(b, k), rec[k])
	}
	return b
}

func mpString(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0xdb)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, s...)
}

func mpMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdf), uint32(n))
	}
}

func (d *fluentdDriver) Log(m Message) { d.send([][]byte{d.message(m)}) }
