package gpconnect

import (
	"bytes"
	"errors"
	"sync"
	"time"
)

// The Bundle decoder. It reads only what gpfed uses (the union of the Slot, Schedule, Location and
// Practitioner elements in fhirResource) and is lenient in the ways GP Connect asks consumers to
// be: unknown elements are skipped, an array may come as a single object, null is absent, and an
// element of the wrong JSON type inside a resource reads as absent. It is strict about the
// document: anything that is not one valid JSON object with an entry array (or no entry) is
// rejected whole. Member names match exactly, as FHIR JSON is case-sensitive.

// decoder turns one response body into resources, interning the strings that repeat across
// slots (types, references, codes, texts) so that a 230-slot window allocates little besides
// its slot ids.
type decoder struct {
	s      scanner
	intern map[string]string
}

func (d *decoder) keep(b []byte) string {
	if v, ok := d.intern[string(b)]; ok {
		return v
	}
	v := string(b)
	d.intern[v] = v
	return v
}

// parseBuffers are what parsing one Bundle needs only while it runs: the
// decoded resources (~330 bytes an entry, a fifth of all a regional sync
// allocated per slot before they were reused), the interning table and the
// set of slot ids seen. ParseSlotBundle takes them from parsePool and puts
// them back emptied, so that its garbage is the slots it returns.
type parseBuffers struct {
	entries []fhirResource
	intern  map[string]string
	seen    map[string]struct{}
}

var parsePool = sync.Pool{New: func() any {
	return &parseBuffers{intern: make(map[string]string, 64), seen: make(map[string]struct{}, 256)}
}}

// release empties b (no string or slice of the Bundle stays reachable
// through it) and returns it to the pool. Only entries[:len] can hold
// anything: the rest was cleared by the release before, or never used.
func (b *parseBuffers) release() {
	clear(b.entries)
	b.entries = b.entries[:0]
	clear(b.intern)
	clear(b.seen)
	parsePool.Put(b)
}

// decodeEntries decodes a Bundle and returns its resources in entry order,
// in b's entries.
func decodeEntries(data []byte, b *parseBuffers) (resourceType string, res []fhirResource, err error) {
	d := &decoder{s: scanner{data: data}, intern: b.intern}
	if d.s.peek() != '{' {
		return "", nil, &ParseError{Reason: "not a JSON Bundle", Err: d.s.fail("want an object")}
	}
	// Entries run to ~400 bytes each: sizing for that saves growing (and copying) the slice.
	res = b.entries[:0]
	if n := len(data)/400 + 1; cap(res) < n {
		res = make([]fhirResource, 0, n)
	}
	defer func() { b.entries = res }()
	err = d.s.object(func(key []byte) error {
		switch string(key) {
		case "resourceType":
			if d.s.peek() != '"' {
				return d.s.fail("resourceType is not a string")
			}
			b, err := d.s.str()
			resourceType = string(b)
			return err
		case "entry":
			res = res[:0]
			if d.s.null() {
				return nil
			}
			return d.s.array(func() error { return d.entry(&res) })
		}
		return d.s.skip()
	})
	if err == nil && d.s.peek() != 0 {
		err = errors.New("data after the Bundle")
	}
	if err != nil {
		return "", nil, &ParseError{Reason: "not a JSON Bundle", Err: err}
	}
	return resourceType, res, nil
}

// entry decodes one Bundle entry; an entry without a resource object adds nothing.
func (d *decoder) entry(res *[]fhirResource) error {
	if d.s.null() {
		return nil
	}
	return d.s.object(func(key []byte) error {
		if string(key) != "resource" || d.s.peek() != '{' {
			return d.s.skip()
		}
		r := fhirResource{StartErr: errNoInstant, EndErr: errNoInstant} // until read
		if err := d.resource(&r); err != nil {
			return err
		}
		*res = append(*res, r)
		return nil
	})
}

// text reads a string element; any other JSON type (null included) reads as absent.
func (d *decoder) text(into *string, keep bool) error {
	if d.s.peek() != '"' {
		*into = ""
		return d.s.skip()
	}
	b, err := d.s.str()
	if err != nil {
		return err
	}
	if keep {
		*into = d.keep(b)
	} else {
		*into = string(b)
	}
	return nil
}

// instant reads a date-time element (see parseInstantBytes); other JSON types read as absent.
func (d *decoder) instant(into *time.Time, text *string, fail *error) error {
	*into, *text, *fail = time.Time{}, "", errNoInstant
	if d.s.peek() != '"' {
		return d.s.skip()
	}
	b, err := d.s.str()
	if err != nil {
		return err
	}
	*into, *fail = parseInstantBytes(b)
	if *fail == nil {
		*text = string(b)
	}
	return nil
}

// errNoInstant is the error of a missing or non-string date-time.
var errNoInstant = &instantError{}

// many reads an element that may be an array, a single object or null, calling one for each
// object; a null inside an array is an empty element (so it still counts as the first), other
// JSON types read as absent.
func (d *decoder) many(one func(null bool) error) error {
	switch d.s.peek() {
	case '[':
		return d.s.array(func() error {
			switch d.s.peek() {
			case '{':
				return one(false)
			case 'n':
				if d.s.null() {
					return one(true)
				}
			}
			return d.s.skip()
		})
	case '{':
		return one(false)
	}
	return d.s.skip()
}

func (d *decoder) resource(r *fhirResource) error {
	return d.s.object(func(key []byte) error {
		switch string(key) {
		case "resourceType":
			return d.text(&r.ResourceType, true)
		case "id":
			return d.text(&r.ID, false)
		case "status":
			return d.text(&r.Status, true)
		case "start":
			return d.instant(&r.Start, &r.StartText, &r.StartErr)
		case "end":
			return d.instant(&r.End, &r.EndText, &r.EndErr)
		case "extension":
			r.DeliveryChannel, r.deliveryChannelSet, r.Role = "", false, roleCoding{}
			return d.many(func(null bool) error { return d.extension(r, null) })
		case "serviceType":
			return d.firstConcept(&r.ServiceType)
		case "serviceCategory":
			return d.firstConcept(&r.ServiceCategory)
		case "schedule":
			r.ScheduleRef = ""
			return d.many(func(null bool) error { return d.reference(&r.ScheduleRef, null) })
		case "actor":
			r.Actors = r.Actors[:0]
			return d.many(func(null bool) error {
				var ref string
				err := d.reference(&ref, null)
				r.Actors = append(r.Actors, ref)
				return err
			})
		case "name":
			start := d.s.pos
			if err := d.s.skip(); err != nil {
				return err
			}
			r.Name = bytes.TrimSpace(d.s.data[start:d.s.pos]) // read once the resource type is known
			return nil
		}
		return d.s.skip()
	})
}

func (d *decoder) reference(into *string, null bool) error {
	*into = ""
	if null {
		return nil
	}
	return d.s.object(func(key []byte) error {
		if string(key) == "reference" {
			return d.text(into, true)
		}
		return d.s.skip()
	})
}

// firstConcept reads a CodeableConcept list, keeping the first element's text.
func (d *decoder) firstConcept(into *conceptText) error {
	*into = conceptText{}
	return d.many(func(null bool) error {
		var cc concept
		if !null {
			if err := d.concept(&cc); err != nil {
				return err
			}
		}
		if !into.Set {
			*into = conceptText{Set: true, Text: cc.text()}
		}
		return nil
	})
}

// concept is a CodeableConcept as gpfed reads it.
type concept struct {
	Text         string
	FirstDisplay string // first coding with a display
	Code, Disp   string // first coding with a code, and its display
	hasCode      bool
}

func (cc concept) text() string {
	if cc.Text != "" {
		return cc.Text
	}
	return cc.FirstDisplay
}

func (d *decoder) concept(cc *concept) error {
	return d.s.object(func(key []byte) error {
		switch string(key) {
		case "text":
			return d.text(&cc.Text, true)
		case "coding":
			cc.FirstDisplay, cc.Code, cc.Disp, cc.hasCode = "", "", "", false
			return d.many(func(null bool) error {
				var system, code, display string
				if !null {
					if err := d.coding(&system, &code, &display); err != nil {
						return err
					}
				}
				if cc.FirstDisplay == "" && display != "" {
					cc.FirstDisplay = display
				}
				if !cc.hasCode && code != "" {
					cc.Code, cc.Disp, cc.hasCode = code, display, true
				}
				return nil
			})
		}
		return d.s.skip()
	})
}

func (d *decoder) coding(system, code, display *string) error {
	return d.s.object(func(key []byte) error {
		switch string(key) {
		case "system":
			return d.text(system, true)
		case "code":
			return d.text(code, true)
		case "display":
			return d.text(display, true)
		}
		return d.s.skip()
	})
}

// extension reads one extension and folds it into r: the first delivery channel extension with
// a value, and the first practitioner role extension with a CodeableConcept.
func (d *decoder) extension(r *fhirResource, null bool) error {
	var url, code string
	var cc concept
	hasCC := false
	if !null {
		err := d.s.object(func(key []byte) error {
			switch string(key) {
			case "url":
				return d.text(&url, true)
			case "valueCode":
				return d.text(&code, true)
			case "valueCodeableConcept":
				cc, hasCC = concept{}, false
				if d.s.peek() != '{' {
					return d.s.skip()
				}
				hasCC = true
				return d.concept(&cc)
			}
			return d.s.skip()
		})
		if err != nil {
			return err
		}
	}
	switch {
	case url == extDeliveryChannel2 || url == extDeliveryChannel1:
		if r.deliveryChannelSet {
			return nil
		}
		switch {
		case code != "":
			r.DeliveryChannel, r.deliveryChannelSet = code, true
		case hasCC && cc.Code != "":
			r.DeliveryChannel, r.deliveryChannelSet = cc.Code, true
		case hasCC:
			r.DeliveryChannel, r.deliveryChannelSet = cc.Text, true
		}
	case url == extPractitionerRole && hasCC && !r.Role.Set:
		r.Role = roleCoding{Set: true, Code: cc.Code, Display: cc.Disp}
		if r.Role.Display == "" {
			r.Role.Display = cc.Text
		}
	}
	return nil
}

// humanNames reads Practitioner.name (a list of HumanName, or one) from its raw bytes.
func humanNames(raw []byte) []fhirHumanName {
	d := &decoder{s: scanner{data: raw}, intern: map[string]string{}}
	var out []fhirHumanName
	err := d.many(func(null bool) error {
		var n fhirHumanName
		if !null {
			if err := d.humanName(&n); err != nil {
				return err
			}
		}
		out = append(out, n)
		return nil
	})
	if err != nil {
		return nil
	}
	return out
}

func (d *decoder) humanName(n *fhirHumanName) error {
	return d.s.object(func(key []byte) error {
		switch string(key) {
		case "text":
			return d.text(&n.Text, false)
		case "family":
			return d.text(&n.Family, false)
		case "given":
			n.Given = nil
			if d.s.peek() != '[' {
				return d.s.skip()
			}
			return d.s.array(func() error {
				if d.s.peek() != '"' {
					return d.s.skip()
				}
				b, err := d.s.str()
				n.Given = append(n.Given, string(b))
				return err
			})
		}
		return d.s.skip()
	})
}

// locationName reads Location.name (a string) from its raw bytes.
func locationName(raw []byte) string {
	d := &decoder{s: scanner{data: raw}}
	if d.s.peek() != '"' {
		return ""
	}
	b, err := d.s.str()
	if err != nil {
		return ""
	}
	return string(b)
}
