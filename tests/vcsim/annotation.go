package main

// The exporter's reading of config.annotation, written out by hand rather than with
// encoding/json's struct decoding, which would differ from the exporter (serde) in ways
// that matter here: Go matches keys case-insensitively and keeps the last of duplicate
// keys, serde matches exactly and rejects a duplicate field it reads.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// cdsFields are the four fields of a CDS annotation the exporter reads.
type cdsFields struct {
	hatcheryName    string
	model           bool
	workerModelPath string
	flavor          string
}

var errNotAnObject = errors.New("not a JSON object")

// parseAnnotation returns nil for an empty or blank annotation (not a CDS one, not
// counted), an error for any other annotation that is not a JSON object whose four read
// fields have their types (string, bool, string, string; null meaning the zero value).
// Other fields are skipped whatever they hold.
func parseAnnotation(raw string) (*cdsFields, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	if !strings.HasPrefix(raw, "{") {
		return nil, errNotAnObject
	}

	dec := json.NewDecoder(strings.NewReader(raw))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, err
	}

	var a cdsFields
	seen := make(map[string]bool)
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		name, _ := key.(string)
		if err := a.set(name, value, seen); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing characters after the object")
	}
	return &a, nil
}

func (a *cdsFields) set(name string, value json.RawMessage, seen map[string]bool) error {
	var field interface{}
	switch name {
	case "hatchery_name":
		field = &a.hatcheryName
	case "model":
		field = &a.model
	case "worker_model_path":
		field = &a.workerModelPath
	case "flavor":
		field = &a.flavor
	default:
		return nil
	}

	if seen[name] {
		return fmt.Errorf("duplicate field %s", name)
	}
	seen[name] = true
	// Unmarshal leaves the field at its zero value for null, and refuses any other type.
	return json.Unmarshal(value, field)
}
