package sim

import (
	"encoding/json"
	"unicode/utf8"
)

// encodeBundle writes a slot search Bundle exactly as json.Marshal would (TestEncodeBundleMatches
// checks it), writing the Slots, which are nearly all of it, by hand. A region-sized benchmark
// has the simulator encode over a gigabyte of JSON on the machine it measures gpfed on, so the
// load generator should cost as little as it can.
func encodeBundle(b bundle) ([]byte, error) {
	buf := make([]byte, 0, 512*len(b.Entry)+64)
	buf = append(buf, `{"resourceType":`...)
	buf = appendString(buf, b.ResourceType)
	buf = append(buf, `,"type":`...)
	buf = appendString(buf, b.Type)
	buf = append(buf, `,"entry":[`...)
	for i, e := range b.Entry {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"resource":`...)
		if s, ok := e.Resource.(slotResource); ok {
			buf = appendSlot(buf, &s)
		} else {
			r, err := json.Marshal(e.Resource)
			if err != nil {
				return nil, err
			}
			buf = append(buf, r...)
		}
		buf = append(buf, '}')
	}
	return append(buf, "]}"...), nil
}

func appendSlot(buf []byte, s *slotResource) []byte {
	buf = append(buf, `{"resourceType":`...)
	buf = appendString(buf, s.ResourceType)
	buf = append(buf, `,"id":`...)
	buf = appendString(buf, s.ID)
	buf = append(buf, `,"meta":{"profile":[`...)
	for i, p := range s.Meta.Profile {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, p)
	}
	buf = append(buf, "]}"...)
	if len(s.Extension) > 0 {
		buf = append(buf, `,"extension":[`...)
		for i, e := range s.Extension {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"url":`...)
			buf = appendString(buf, e.URL)
			if e.ValueCode != "" {
				buf = append(buf, `,"valueCode":`...)
				buf = appendString(buf, e.ValueCode)
			}
			buf = append(buf, '}')
		}
		buf = append(buf, ']')
	}
	buf = append(buf, `,"serviceType":[`...)
	for i, st := range s.ServiceType {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		if st.Text != "" {
			buf = append(buf, `"text":`...)
			buf = appendString(buf, st.Text)
		}
		buf = append(buf, '}')
	}
	buf = append(buf, `],"schedule":{"reference":`...)
	buf = appendString(buf, s.Schedule.Reference)
	buf = append(buf, `},"status":`...)
	buf = appendString(buf, s.Status)
	buf = append(buf, `,"start":`...)
	buf = appendString(buf, s.Start)
	buf = append(buf, `,"end":`...)
	buf = appendString(buf, s.End)
	return append(buf, '}')
}

// appendString quotes s as encoding/json does (HTML-safe); strings that need more than plain
// quoting are left to encoding/json itself.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s)
			return append(buf, q...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
