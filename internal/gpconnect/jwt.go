package gpconnect

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// jwtLifetime is fixed by the specification: strict providers reject exp-iat of 299 or 301.
const jwtLifetime = 300 * time.Second

// jwtScopeOrganisationRead is the scope for slot search and metadata.
const jwtScopeOrganisationRead = "organization/*.read"

type jwtClaims struct {
	Iss                    string          `json:"iss"`
	Sub                    string          `json:"sub"`
	Aud                    string          `json:"aud"`
	Exp                    int64           `json:"exp"`
	Iat                    int64           `json:"iat"`
	ReasonForRequest       string          `json:"reason_for_request"`
	RequestedScope         string          `json:"requested_scope"`
	RequestingDevice       jwtDevice       `json:"requesting_device"`
	RequestingOrganization jwtOrganization `json:"requesting_organization"`
	RequestingPractitioner jwtPractitioner `json:"requesting_practitioner"`
}

type jwtIdentifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type jwtDevice struct {
	ResourceType string          `json:"resourceType"`
	Identifier   []jwtIdentifier `json:"identifier"`
	Model        string          `json:"model"`
	Version      string          `json:"version"`
}

type jwtOrganization struct {
	ResourceType string          `json:"resourceType"`
	Identifier   []jwtIdentifier `json:"identifier"`
	Name         string          `json:"name"`
}

type jwtPractitioner struct {
	ResourceType string          `json:"resourceType"`
	ID           string          `json:"id"`
	Identifier   []jwtIdentifier `json:"identifier"`
	Name         []jwtHumanName  `json:"name"`
}

type jwtHumanName struct {
	Family string   `json:"family"`
	Given  []string `json:"given,omitempty"`
}

// jwtHeader is constant: GP Connect tokens are unsigned.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))

// buildJWT returns a fresh unsigned token (header.claims. with an empty signature) for one request
// to the provider whose service root is aud.
func buildJWT(c Consumer, aud, scope string, now time.Time) (string, error) {
	claims := newClaims(c, aud, scope, now)
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal jwt claims: %w", err)
	}
	return jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload) + ".", nil
}

func newClaims(c Consumer, aud, scope string, now time.Time) jwtClaims {
	iat := now.Unix()
	p := c.Practitioner
	name := jwtHumanName{Family: p.FamilyName}
	if p.GivenName != "" {
		name.Given = []string{p.GivenName}
	}
	return jwtClaims{
		Iss:              c.EndpointURL,
		Sub:              p.ID,
		Aud:              aud,
		Iat:              iat,
		Exp:              iat + int64(jwtLifetime/time.Second),
		ReasonForRequest: "directcare",
		RequestedScope:   scope,
		RequestingDevice: jwtDevice{
			ResourceType: "Device",
			Identifier:   []jwtIdentifier{{System: systemDeviceID, Value: c.ASID}},
			Model:        c.ProductName,
			Version:      c.ProductVersion,
		},
		RequestingOrganization: jwtOrganization{
			ResourceType: "Organization",
			Identifier:   []jwtIdentifier{{System: systemODS, Value: c.ODS}},
			Name:         c.Name,
		},
		RequestingPractitioner: jwtPractitioner{
			ResourceType: "Practitioner",
			ID:           p.ID,
			Identifier: []jwtIdentifier{
				{System: systemSDSUserID, Value: orUNK(p.SDSUserID)},
				{System: systemSDSRoleProfile, Value: orUNK(p.SDSRoleProfileID)},
				{System: systemLocalUserID, Value: p.ID},
			},
			Name: []jwtHumanName{name},
		},
	}
}

// orUNK applies the specification's placeholder for an SDS identifier the consumer does not hold.
func orUNK(s string) string {
	if s == "" {
		return "UNK"
	}
	return s
}
