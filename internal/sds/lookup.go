package sds

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Lookup resolves the service root and ASID of practice ods for interaction
// (e.g. urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1). Failures
// are *Error; errors.Is(err, ErrNotEnabled) when SDS lists no endpoint.
func (c *Client) Lookup(ctx context.Context, ods, interaction string) (Endpoint, error) {
	ep := Endpoint{ODS: ods, Interaction: interaction}
	fail := func(step string, e *Error) (Endpoint, error) {
		e.ODS, e.Interaction, e.Step = ods, interaction, step
		return ep, e
	}
	body, err := c.search(ctx, "Endpoint", query{
		{"organization", SystemODS + "|" + ods},
		{"identifier", SystemInteraction + "|" + interaction},
	})
	if err != nil {
		return fail("Endpoint", err)
	}
	mhs, perr := mhsRecord(body, ods)
	if perr != nil {
		return fail("Endpoint", perr)
	}
	ep.Address, ep.PartyKey = mhs.address, mhs.partyKey
	body, err = c.search(ctx, "Device", query{
		{"organization", SystemODS + "|" + ods},
		{"identifier", SystemInteraction + "|" + interaction},
		{"identifier", SystemPartyKey + "|" + mhs.partyKey},
	})
	if err != nil {
		return fail("Device", err)
	}
	asid, perr := deviceASID(body, mhs.partyKey)
	if perr != nil {
		return fail("Device", perr)
	}
	ep.ASID = asid
	return ep, nil
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type orgRef struct {
	Identifier identifier `json:"identifier"`
}

// searchset decodes what gpfed reads from an Endpoint or Device searchset.
type searchset struct {
	ResourceType string `json:"resourceType"`
	Entry        []struct {
		Resource struct {
			ResourceType         string       `json:"resourceType"`
			Address              string       `json:"address"`
			Identifier           []identifier `json:"identifier"`
			ManagingOrganization *orgRef      `json:"managingOrganization"`
			Owner                *orgRef      `json:"owner"`
		} `json:"resource"`
	} `json:"entry"`
}

func decodeSearchset(body []byte, want string) (searchset, *Error) {
	var b searchset
	if err := json.Unmarshal(body, &b); err != nil {
		return b, &Error{Kind: Inconsistent, Status: 200, Err: fmt.Errorf("answer is not a JSON Bundle: %w", err)}
	}
	if b.ResourceType != "Bundle" {
		return b, &Error{Kind: Inconsistent, Status: 200, Err: fmt.Errorf("answer is a %.40q, want Bundle", b.ResourceType)}
	}
	for _, e := range b.Entry {
		if e.Resource.ResourceType != want {
			return b, &Error{Kind: Inconsistent, Status: 200,
				Err: fmt.Errorf("searchset entry is a %.40q, want %s", e.Resource.ResourceType, want)}
		}
	}
	return b, nil
}

func valueOf(ids []identifier, system string) string {
	for _, id := range ids {
		if id.System == system {
			return id.Value
		}
	}
	return ""
}

type mhs struct{ address, partyKey string }

// mhsRecord picks the one MHS record of a step 1 answer. None means the
// practice is not live for the interaction; several distinct ones (a
// practice may have only one GP Connect provider system) fail closed.
func mhsRecord(body []byte, ods string) (mhs, *Error) {
	b, err := decodeSearchset(body, "Endpoint")
	if err != nil {
		return mhs{}, err
	}
	var found []mhs
	for _, e := range b.Entry {
		r := e.Resource
		if o := r.ManagingOrganization; o != nil && o.Identifier.Value != "" && !strings.EqualFold(o.Identifier.Value, ods) {
			return mhs{}, inconsistent("the MHS record belongs to %.20q, not %s", o.Identifier.Value, ods)
		}
		m := mhs{address: r.Address, partyKey: valueOf(r.Identifier, SystemPartyKey)}
		if !slices.Contains(found, m) {
			found = append(found, m)
		}
	}
	switch {
	case len(found) == 0:
		return mhs{}, &Error{Kind: NotEnabled, Status: 200, Diagnostics: "SDS lists no GP Connect endpoint for this practice and interaction"}
	case len(found) > 1:
		addrs := make([]string, len(found))
		for i, m := range found {
			addrs[i] = m.address
		}
		return mhs{}, inconsistent("%d endpoints (a practice has one GP Connect provider system): %s", len(found), strings.Join(addrs, ", "))
	}
	m := found[0]
	if reason := checkAddress(m.address); reason != "" {
		return mhs{}, inconsistent("endpoint address %.200q %s", m.address, reason)
	}
	if m.partyKey == "" {
		return mhs{}, inconsistent("the MHS record has no party key (%s)", SystemPartyKey)
	}
	return m, nil
}

var asidRe = regexp.MustCompile(`^[0-9]{12}$`)

// deviceASID picks the provider's ASID from a step 2 answer: exactly one
// distinct, well-formed nhsSpineASID for the party key.
func deviceASID(body []byte, partyKey string) (string, *Error) {
	b, err := decodeSearchset(body, "Device")
	if err != nil {
		return "", err
	}
	var asids []string
	for _, e := range b.Entry {
		r := e.Resource
		if pk := valueOf(r.Identifier, SystemPartyKey); pk != "" && pk != partyKey {
			return "", inconsistent("a Device for party key %.40q answered a search for %s", pk, partyKey)
		}
		if a := valueOf(r.Identifier, SystemASID); a != "" && !slices.Contains(asids, a) {
			asids = append(asids, a)
		}
	}
	switch {
	case len(asids) == 0:
		return "", inconsistent("the endpoint's party key %s has no accredited system (Device) with an ASID", partyKey)
	case len(asids) > 1:
		return "", inconsistent("party key %s has %d ASIDs: %s", partyKey, len(asids), strings.Join(asids, ", "))
	case !asidRe.MatchString(asids[0]):
		return "", inconsistent("ASID %.40q is not 12 digits", asids[0])
	}
	return asids[0], nil
}

func inconsistent(format string, args ...any) *Error {
	return &Error{Kind: Inconsistent, Status: 200, Diagnostics: fmt.Sprintf(format, args...)}
}

// checkAddress explains why an address cannot be a service root, or "". It
// never rewrites one: the SSP compares the root byte for byte.
func checkAddress(s string) string {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return "is empty"
	case err != nil:
		return "is not a URL"
	case u.Scheme != "https" && u.Scheme != "http":
		return "is not an absolute http(s) URL"
	case u.Host == "":
		return "has no host"
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, " \t\r\n"):
		return "has a query, fragment or spaces"
	}
	return ""
}
