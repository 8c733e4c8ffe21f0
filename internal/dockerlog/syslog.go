package dockerlog

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

var syslogOpts = []string{"syslog-address", "syslog-facility", "syslog-format",
	"syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key", "syslog-tls-skip-verify"}

// syslogFacilities are syslog-facility's names.
var syslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Severities of the two streams, as docker's: info and err.
const (
	sevInfo = 6
	sevErr  = 3
)

// syslogFormat writes a message: its priority, host name, tag, the
// sender's pid and the line, at t.
type syslogFormat func(pri int, host, tag string, pid int, line string, t time.Time) string

// syslogFormats are syslog-format's values, as docker's: the default
// is the traditional "<pri>Mmm dd hh:mm:ss tag[pid]: msg".
var syslogFormats = map[string]syslogFormat{
	"": func(pri int, _, tag string, pid int, line string, t time.Time) string {
		return fmt.Sprintf("<%d>%s %s[%d]: %s\n", pri, t.Format(time.Stamp), tag, pid, line)
	},
	"rfc3164": func(pri int, host, tag string, pid int, line string, t time.Time) string {
		return fmt.Sprintf("<%d>%s %s %s[%d]: %s\n", pri, t.Format(time.Stamp), host, tag, pid, line)
	},
	"rfc5424": func(pri int, host, tag string, pid int, line string, t time.Time) string {
		return fmt.Sprintf("<%d>1 %s %s %s %d %s - %s\n", pri, t.Format(time.RFC3339), host, tag, pid, tag, line)
	},
	"rfc5424micro": func(pri int, host, tag string, pid int, line string, t time.Time) string {
		return fmt.Sprintf("<%d>1 %s %s %s %d %s - %s\n", pri, t.Format("2006-01-02T15:04:05.999999Z07:00"), host, tag, pid, tag, line)
	},
}

type syslogDriver struct {
	*sender
	facility  int
	format    syslogFormat
	host, tag string
	pid       int
}

func newSyslog(cfg map[string]string, info Info, tag string) (Driver, error) {
	// As in SmartOS, the address is required and a unix socket (a path
	// on the host) is not offered.
	if cfg["syslog-address"] == "" {
		return nil, errors.New("syslog-address is required for the syslog log driver")
	}
	proto, addr, err := address("syslog-address", cfg["syslog-address"], []string{"udp", "tcp"}, "514")
	if err != nil {
		return nil, err
	}
	facility, err := syslogFacility(cfg["syslog-facility"])
	if err != nil {
		return nil, err
	}
	format, ok := syslogFormats[cfg["syslog-format"]]
	if !ok {
		return nil, errors.New("Invalid syslog format")
	}
	if cfg["syslog-tls-ca-cert"]+cfg["syslog-tls-cert"]+cfg["syslog-tls-key"] != "" {
		return nil, errors.New("syslog-tls options need a tcp+tls syslog-address, which is not offered")
	}
	return &syslogDriver{sender: newSender(proto, addr), facility: facility, format: format,
		host: info.Hostname, tag: tag, pid: os.Getpid()}, nil
}

func syslogFacility(s string) (int, error) {
	if s == "" {
		return syslogFacilities["daemon"], nil
	}
	if f, ok := syslogFacilities[s]; ok {
		return f, nil
	}
	if f, err := strconv.Atoi(s); err == nil && f >= 0 && f <= 23 {
		return f, nil
	}
	return 0, errors.New("invalid syslog facility")
}

// syslogLine is the message m as the driver sends it.
func (d *syslogDriver) line(m Message) string {
	sev := sevInfo
	if m.Stream == "stderr" {
		sev = sevErr
	}
	return d.format(d.facility<<3|sev, d.host, d.tag, d.pid, string(m.Line), m.Time)
}

func (d *syslogDriver) Log(m Message) { d.send([][]byte{[]byte(d.line(m))}) }
