package gpconnect

import (
	"bytes"
	"encoding/json"
)

// Types for the resources gpfed reads and writes with encoding/json (patients, appointments);
// slot search Bundles have their own decoder (decode.go).

type fhirReference struct {
	Reference string `json:"reference"`
}

// oneOrMany decodes a JSON array of T or a single T (published GP Connect examples carry some
// arrays as bare objects). null decodes to nothing.
type oneOrMany[T any] []T

func (m *oneOrMany[T]) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("null")):
		*m = nil
		return nil
	case len(data) > 0 && data[0] == '[':
		var many []T
		if err := json.Unmarshal(data, &many); err != nil {
			return err
		}
		*m = many
		return nil
	}
	var one T
	if err := json.Unmarshal(data, &one); err != nil {
		return err
	}
	*m = oneOrMany[T]{one}
	return nil
}

func (m oneOrMany[T]) first() (T, bool) {
	if len(m) == 0 {
		var zero T
		return zero, false
	}
	return m[0], true
}
