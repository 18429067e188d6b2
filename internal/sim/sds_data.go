package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/google/uuid"
)

// GP Connect provider interactions every simulated practice is registered
// for; each has its own MHS record in SDS (Appointment Management and
// Foundations share the practice's service root).
var sdsInteractions = []string{
	"urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1",
	"urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1",
	"urn:nhs:names:services:gpconnect:fhir:rest:search:patient-1",
	"urn:nhs:names:services:gpconnect:fhir:operation:gpc.registerpatient-1",
	"urn:nhs:names:services:gpconnect:fhir:rest:create:appointment-1",
	"urn:nhs:names:services:gpconnect:fhir:rest:read:appointment-1",
	"urn:nhs:names:services:gpconnect:fhir:rest:cancel:appointment-1",
	"urn:nhs:names:services:gpconnect:fhir:rest:search:patient_appointments-1",
}

const (
	sdsExtInteraction  = "https://fhir.nhs.uk/StructureDefinition/Extension-SDS-NhsServiceInteractionId"
	sdsExtManufacturer = "https://fhir.nhs.uk/StructureDefinition/Extension-SDS-ManufacturingOrganisation"
	sdsSupplierODS     = "YGM24" // the simulated clinical system supplier
)

// directory is a practice's SDS data, derived from the seed: a provider
// MHS party key and accredited system (its ASID), and a consumer system
// with its own party key and ASID that a Device search without the party
// key would also find.
type directory struct {
	partyKey, consumerKey, consumerASID, mhsID string
}

func (f *Federation) directoryOf(p *practice) directory {
	r := newRand(f.cfg.Seed, "sds", p.ods)
	d := directory{partyKey: p.ods + "-" + digits(r, 6), consumerKey: p.ods + "-" + digits(r, 6),
		consumerASID: "9" + digits(r, 11), mhsID: "S" + digits(r, 5) + "A" + digits(r, 6)}
	if d.consumerKey == d.partyKey {
		d.consumerKey += "0"
	}
	return d
}

// PartyKey is the practice's provider MHS party key in the simulated SDS.
func (f *Federation) PartyKey(ods string) string {
	if p := f.byODS[ods]; p != nil {
		return f.directoryOf(p).partyKey
	}
	return ""
}

type sdsIdentifiers []identifier

type sdsValueRef struct {
	Identifier identifier `json:"identifier"`
}

type sdsExtension struct {
	URL            string       `json:"url"`
	ValueReference *sdsValueRef `json:"valueReference,omitempty"`
}

type sdsEndpoint struct {
	ResourceType         string            `json:"resourceType"`
	ID                   string            `json:"id"`
	Status               string            `json:"status"`
	ConnectionType       coding            `json:"connectionType"`
	PayloadType          []codeableConcept `json:"payloadType"`
	Address              string            `json:"address"`
	ManagingOrganization sdsValueRef       `json:"managingOrganization"`
	Identifier           sdsIdentifiers    `json:"identifier"`
	Extension            []sdsExtension    `json:"extension"`
}

type sdsDevice struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id"`
	Identifier   sdsIdentifiers `json:"identifier"`
	Extension    []sdsExtension `json:"extension"`
	Owner        sdsValueRef    `json:"owner"`
}

func interactionExt(id string) sdsExtension {
	return sdsExtension{URL: sdsExtInteraction, ValueReference: &sdsValueRef{identifier{sdsSystemInteraction, id}}}
}

// endpointEntries lists the MHS records matching q: one per registered
// interaction (or with a TwoEndpoints fault, a second, different one).
func (f *Federation) endpointEntries(p *practice, q sdsQuery, ft SDSFault) []any {
	d := f.directoryOf(p)
	if ft.NoEndpoint || (q.partyKey != "" && q.partyKey != d.partyKey) {
		return nil
	}
	root := p.public(f.BaseURL()).ServiceRoot
	var out []any
	for _, ia := range sdsInteractions {
		if q.interaction != "" && q.interaction != ia {
			continue
		}
		out = append(out, mhsRecord(p.ods, root, d.partyKey, d.mhsID, ia))
		if ft.TwoEndpoints {
			out = append(out, mhsRecord(p.ods, root+"-legacy", p.ods+"-000001", d.mhsID+"9", ia))
		}
	}
	return out
}

func mhsRecord(ods, address, partyKey, mhsID, interaction string) sdsEndpoint {
	return sdsEndpoint{
		ResourceType: "Endpoint", ID: uuid.NewString(), Status: "active",
		ConnectionType: coding{System: "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", Code: "hl7-fhir-msg", Display: "HL7 FHIR Messaging"},
		PayloadType: []codeableConcept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/endpoint-payload-type",
			Code: "any", Display: "Any"}}}},
		Address:              address,
		ManagingOrganization: sdsValueRef{identifier{sdsSystemODS, ods}},
		Identifier: sdsIdentifiers{
			{"https://fhir.nhs.uk/Id/nhsMhsFQDN", "sim.gpfed.invalid"},
			{sdsSystemPartyKey, partyKey},
			{"https://fhir.nhs.uk/Id/nhsMhsCPAId", mhsID},
			{"https://fhir.nhs.uk/Id/nhsMHSId", mhsID},
		},
		Extension: []sdsExtension{interactionExt(interaction)},
	}
}

// deviceEntries lists the accredited systems matching q: the provider's
// (unless NoDevice) and the practice's consumer system.
func (f *Federation) deviceEntries(p *practice, q sdsQuery, ft SDSFault) []any {
	if !slices.Contains(sdsInteractions, q.interaction) || (q.manufacturer != "" && q.manufacturer != sdsSupplierODS) {
		return nil
	}
	d := f.directoryOf(p)
	var out []any
	for _, sys := range []struct{ key, asid string }{{d.partyKey, p.asid}, {d.consumerKey, d.consumerASID}} {
		if (q.partyKey != "" && q.partyKey != sys.key) || (sys.key == d.partyKey && (ft.NoDevice || ft.NoEndpoint)) {
			continue
		}
		dev := sdsDevice{ResourceType: "Device", ID: uuid.NewString(),
			Identifier: sdsIdentifiers{{sdsSystemASID, sys.asid}, {sdsSystemPartyKey, sys.key}},
			Extension:  []sdsExtension{{URL: sdsExtManufacturer, ValueReference: &sdsValueRef{identifier{sdsSystemODS, sdsSupplierODS}}}},
			Owner:      sdsValueRef{identifier{sdsSystemODS, p.ods}}}
		for _, ia := range sdsInteractions {
			dev.Extension = append(dev.Extension, interactionExt(ia))
		}
		out = append(out, dev)
	}
	return out
}

type sdsBundleEntry struct {
	FullURL  string `json:"fullUrl"`
	Resource any    `json:"resource"`
	Search   struct {
		Mode string `json:"mode"`
	} `json:"search"`
}

type sdsBundle struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Type         string `json:"type"`
	Total        int    `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []sdsBundleEntry `json:"entry"`
}

func writeSDSBundle(w http.ResponseWriter, base, resource, rawQuery string, entries []any) {
	b := sdsBundle{ResourceType: "Bundle", ID: uuid.NewString(), Type: "searchset", Total: len(entries), Entry: []sdsBundleEntry{}}
	b.Link = append(b.Link, struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}{"self", base + "/" + resource + "?" + rawQuery})
	for _, e := range entries {
		id := ""
		switch r := e.(type) {
		case sdsEndpoint:
			id = r.ID
		case sdsDevice:
			id = r.ID
		}
		be := sdsBundleEntry{FullURL: base + "/" + resource + "/" + id, Resource: e}
		be.Search.Mode = "match"
		b.Entry = append(b.Entry, be)
	}
	body, err := json.Marshal(b)
	if err != nil {
		writeSDSError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", err.Error())
		return
	}
	writeSDSJSON(w, http.StatusOK, body)
}

func writeSDSError(w http.ResponseWriter, status int, code, diagnostics string) {
	writeSDSJSON(w, status, outcomeJSON(code, diagnostics))
}

func writeSDSJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set(headerContentType, "application/fhir+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
