package vm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ValidationError is the result of a failed payload validation, shaped
// like the object SmartOS's `vmadm validate` prints: either only
// bad_brand, or the three lists (always all present).
type ValidationError struct {
	BadBrand          string   `json:"bad_brand,omitempty"`
	BadValues         []string `json:"bad_values"`
	BadProperties     []string `json:"bad_properties"`
	MissingProperties []string `json:"missing_properties"`
}

// Error gives the message vmadm create/update print, in SmartOS's order
// of precedence.
func (e *ValidationError) Error() string {
	switch {
	case e.BadBrand != "":
		return "Invalid brand while validating payload: " + jsonString(e.BadBrand)
	case len(e.BadValues) > 0:
		return "Invalid value(s) for: " + strings.Join(e.BadValues, ",")
	case len(e.MissingProperties) > 0:
		return "Missing required properties: " + strings.Join(e.MissingProperties, ",")
	case len(e.BadProperties) > 0:
		return "Invalid property: " + strings.Join(e.BadProperties, ",")
	}
	return "invalid payload"
}

// MarshalJSON prints {"bad_brand": …} alone, or the three lists in
// SmartOS's key order with empty lists as [].
func (e *ValidationError) MarshalJSON() ([]byte, error) {
	if e.BadBrand != "" {
		return json.Marshal(struct {
			BadBrand string `json:"bad_brand"`
		}{e.BadBrand})
	}
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return json.Marshal(struct {
		BadValues         []string `json:"bad_values"`
		BadProperties     []string `json:"bad_properties"`
		MissingProperties []string `json:"missing_properties"`
	}{nonNil(e.BadValues), nonNil(e.BadProperties), nonNil(e.MissingProperties)})
}

func (e *ValidationError) empty() bool {
	return e.BadBrand == "" && len(e.BadValues) == 0 && len(e.BadProperties) == 0 && len(e.MissingProperties) == 0
}

// orNil returns e as an error only when it holds something.
func (e *ValidationError) orNil() error {
	if e.empty() {
		return nil
	}
	return e
}

func (e *ValidationError) badValue(p string) {
	if !slices.Contains(e.BadValues, p) {
		e.BadValues = append(e.BadValues, p)
	}
}

func (e *ValidationError) badProperty(p string) {
	if !slices.Contains(e.BadProperties, p) {
		e.BadProperties = append(e.BadProperties, p)
	}
}

func (e *ValidationError) missing(p string) {
	if !slices.Contains(e.MissingProperties, p) {
		e.MissingProperties = append(e.MissingProperties, p)
	}
}

// ValidMessage is what `vmadm validate` prints for a valid payload.
func ValidMessage(action, brand string) string {
	return fmt.Sprintf("VALID '%s' payload for %s brand VMs.", action, brand)
}

// errUnsupportedBrand refuses brands hull recognises but cannot run here.
func errUnsupportedBrand(brand string) error {
	switch brand {
	case "bhyve":
		return fmt.Errorf("brand %q is not supported on Linux; use kvm", brand)
	case "kvm":
		return fmt.Errorf("brand %q is not supported yet on this node", brand)
	}
	return nil
}

// jsonString quotes s as JSON.stringify would (no HTML escaping).
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
