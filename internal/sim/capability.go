package sim

import "encoding/json"

// The CapabilityStatement follows the GP Connect 1.2.7 template, trimmed to what the simulator
// serves (Slot search and metadata) plus the resources a slot search can include.

type capabilityStatement struct {
	ResourceType  string      `json:"resourceType"`
	Version       string      `json:"version"`
	Name          string      `json:"name"`
	Status        string      `json:"status"`
	Date          string      `json:"date"`
	Publisher     string      `json:"publisher"`
	Description   string      `json:"description"`
	Kind          string      `json:"kind"`
	Software      capSoftware `json:"software"`
	FHIRVersion   string      `json:"fhirVersion"`
	AcceptUnknown string      `json:"acceptUnknown"`
	Format        []string    `json:"format"`
	Profile       []reference `json:"profile"`
	Rest          []capRest   `json:"rest"`
}

type capSoftware struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	ReleaseDate string `json:"releaseDate"`
}

type capRest struct {
	Mode     string        `json:"mode"`
	Security capSecurity   `json:"security"`
	Resource []capResource `json:"resource"`
}

type capSecurity struct {
	CORS bool `json:"cors"`
}

type capResource struct {
	Type          string           `json:"type"`
	Interaction   []capInteraction `json:"interaction"`
	SearchInclude []string         `json:"searchInclude,omitempty"`
	SearchParam   []capSearchParam `json:"searchParam,omitempty"`
}

type capInteraction struct {
	Code string `json:"code"`
}

type capSearchParam struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// GPConnectVersion is the API version the simulated providers claim.
const GPConnectVersion = "1.2.7"

var capabilityJSON = mustCapability()

func mustCapability() []byte {
	read := []capInteraction{{Code: "read"}}
	cs := capabilityStatement{
		ResourceType: "CapabilityStatement", Version: GPConnectVersion, Name: "GP Connect",
		Status: "active", Date: "2020-01-15", Publisher: "gpfed",
		Description: "This server implements the GP Connect API version " + GPConnectVersion,
		Kind:        "capability",
		Software:    capSoftware{Name: "gpfed GP Connect simulator", Version: "1.0.0", ReleaseDate: "2025-01-01"},
		FHIRVersion: "3.0.1", AcceptUnknown: "both",
		Format: []string{"application/fhir+json"},
		Profile: []reference{
			{Reference: profileOrganization}, {Reference: profilePractitioner}, {Reference: profileLocation},
			{Reference: profileOutcome}, {Reference: profileSchedule}, {Reference: profileSlot},
		},
		Rest: []capRest{{Mode: "server", Security: capSecurity{CORS: true}, Resource: []capResource{
			{Type: "Organization", Interaction: read},
			{Type: "Practitioner", Interaction: read},
			{Type: "Location", Interaction: read},
			{
				Type:        "Slot",
				Interaction: []capInteraction{{Code: "search-type"}},
				SearchInclude: []string{
					includeActorLocation, includeActorPractitioner, includeSchedule, includeManagingOrg,
				},
				SearchParam: []capSearchParam{
					{Name: "start", Type: "date"}, {Name: "end", Type: "date"},
					{Name: "status", Type: "token"}, {Name: "searchFilter", Type: "token"},
				},
			},
		}}},
	}
	b, err := json.Marshal(cs)
	if err != nil {
		panic("sim: capability statement: " + err.Error())
	}
	return b
}
