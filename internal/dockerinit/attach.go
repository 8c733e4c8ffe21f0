package dockerinit

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"hull/internal/mdata"
	"hull/internal/metadata/protocol"
)

// SmartOS dockerinit's exit codes for a wait for attach that fails.
const (
	exitMdataInit       = 9
	exitMdataFail       = 8
	exitAttachNotTime   = 43
	exitAttachTimedOut  = 45
	attachCheckInterval = 200 * time.Millisecond
)

// attachKey holds the program back until it is removed (docker attach
// removes it) or the time it holds (ms since the epoch) has passed.
const (
	attachKey     = "docker:wait_for_attach"
	attachWaiting = "__dockerinit_waiting_for_attach"
)

// metadataStore is the zone's metadata, as waitForAttach uses it.
type metadataStore interface {
	get(key string) (value string, found bool, err error)
	put(key, value string) error
	del(key string) error
}

// waitForAttach waits, as SmartOS's dockerinit does before it runs the
// program, while docker:wait_for_attach is set: it notes that it waits
// in __dockerinit_waiting_for_attach, and fails when the time in the key
// passes or the key is not a time. It returns an exit status and error
// for a failure.
func waitForAttach(md metadataStore, now func() time.Time, sleep func(time.Duration)) (int, error) {
	noted := false
	for {
		v, found, err := md.get(attachKey)
		if err != nil {
			return exitMdataFail, fmt.Errorf("metadata: %w", err)
		}
		if !found {
			break
		}
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 {
			return exitAttachNotTime, errors.New("Invalid value for 'docker:wait_for_attach'")
		}
		if !noted {
			if err := md.put(attachWaiting, v); err != nil {
				return exitMdataFail, fmt.Errorf("metadata: %w", err)
			}
			noted = true
		}
		if ms < now().UnixMilli() {
			return exitAttachTimedOut, errors.New("Timed out waiting for attach")
		}
		sleep(attachCheckInterval)
	}
	if noted {
		if err := md.del(attachWaiting); err != nil {
			return exitMdataFail, fmt.Errorf("metadata: %w", err)
		}
	}
	return 0, nil
}

// zoneMetadata is the zone's metadata service.
type zoneMetadata struct{ c *protocol.Client }

func openMetadata() (*zoneMetadata, error) {
	c, err := mdata.Open()
	if err != nil {
		return nil, err
	}
	return &zoneMetadata{c}, nil
}

func (m *zoneMetadata) get(key string) (string, bool, error) {
	r, err := m.c.Get(key)
	if err != nil {
		return "", false, err
	}
	switch r.Code {
	case protocol.Success:
		return r.Data, true, nil
	case protocol.NotFound:
		return "", false, nil
	}
	return "", false, fmt.Errorf("get %s: %s", key, r.Code)
}

func (m *zoneMetadata) put(key, value string) error {
	return m.reply(m.c.Put(key, value))
}

func (m *zoneMetadata) del(key string) error {
	return m.reply(m.c.Delete(key))
}

func (m *zoneMetadata) reply(r protocol.Reply, err error) error {
	if err != nil {
		return err
	}
	if r.Code != protocol.Success {
		return fmt.Errorf("metadata: %s", r.Code)
	}
	return nil
}
