package imgapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"

	"hull/internal/image"
)

// updatable are the manifest fields UpdateImage changes, as IMGAPI
// documents them.
var updatable = map[string]bool{
	"description": true, "homepage": true, "eula": true, "public": true,
	"type": true, "os": true, "acl": true, "requirements": true, "users": true,
	"billing_tags": true, "traits": true, "tags": true,
	"inherited_directories": true, "generate_passwords": true,
	"nic_driver": true, "disk_driver": true, "cpu_type": true, "image_size": true,
}

// updateImage is UpdateImage (POST /images/:uuid?action=update): the
// body's fields replace the manifest's (null removes one); the result is
// validated as an import is.
func (s *Server) updateImage(r *http.Request, uuid string) (*image.Manifest, error) {
	if _, _, err := s.imageIn(r, uuid, false); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, errorf(400, "BadRequestError", "reading the body: %v", err)
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(b, &data) != nil || data == nil {
		e := errorf(422, "ValidationFailed", "missing request body")
		e.Errors = []fieldError{{Field: "body", Code: "MissingParameter"}}
		return nil, e
	}
	if len(data) == 0 {
		return nil, errorf(422, "ValidationFailed", "invalid image update data: no parameters provided")
	}
	var bad []string
	for k := range data {
		if !updatable[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		e := errorf(422, "ValidationFailed", "invalid image update data: %s", strings.Join(bad, ", "))
		for _, k := range bad {
			e.Errors = append(e.Errors, fieldError{Field: k, Code: "NotAllowed", Message: "Parameter cannot be updated"})
		}
		return nil, e
	}
	return s.Repo.modify(uuid, func(m *image.Manifest) error {
		cur, err := json.Marshal(m)
		if err != nil {
			return err
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(cur, &raw); err != nil {
			return err
		}
		for k, v := range data {
			if string(v) == "null" {
				delete(raw, k)
			} else {
				raw[k] = v
			}
		}
		next, _ := json.Marshal(raw)
		nm, err := image.ParseManifest(next)
		if err != nil {
			return validationFailed(err)
		}
		*m = *nm
		return nil
	})
}

// validationFailed is IMGAPI's answer to a manifest it would refuse.
func validationFailed(err error) error {
	ae := errorf(422, "ValidationFailed", "%s", err.Error())
	var ve *image.ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			ae.Errors = append(ae.Errors, fieldError{Field: fe.Field, Code: fe.Code, Message: fe.Message})
		}
	}
	return ae
}
