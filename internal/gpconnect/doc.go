// Package gpconnect is gpfed's consumer client for the NHS GP Connect FHIR STU3 API
// (Appointment Management 1.2.x): free slot search and the metadata read.
//
// A Client signs nothing (GP Connect JWTs are unsigned) but builds a fresh JWT and Ssp-TraceID for
// every HTTP attempt, splits long date ranges into the at-most-14-day windows providers accept,
// retries only what GP Connect treats as transient (429, 5xx from the SSP, timeouts) and parses
// the searchset Bundle leniently, because real providers publish slightly different shapes.
//
// Windows overlap by one hour so that a slot straddling a seam (which a provider returns in
// neither window, since it only returns slots fully inside the window) is still seen; duplicates
// are removed by Slot.id. The price is one extra, short call when a range is an exact multiple of
// 14 days.
package gpconnect

import (
	"time"
	_ "time/tzdata" // Europe/London must resolve on hosts and containers without system tzdata.
)

// Interaction IDs sent in Ssp-InteractionID.
const (
	InteractionSearchSlots = "urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1"
	InteractionMetadata    = "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1"
)

// FHIR identifier systems and structure definitions used on the wire.
const (
	systemODS            = "https://fhir.nhs.uk/Id/ods-organization-code"
	systemOrgType        = "https://fhir.nhs.uk/STU3/CodeSystem/GPConnect-OrganisationType-1"
	systemSDSUserID      = "https://fhir.nhs.uk/Id/sds-user-id"
	systemSDSRoleProfile = "https://fhir.nhs.uk/Id/sds-role-profile-id"
	systemLocalUserID    = "https://gpfed.nhs.invalid/Id/local-user-id"
	systemDeviceID       = "https://gpfed.nhs.invalid/Id/device-identifier"

	extPractitionerRole = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-PractitionerRole-1"
	extDeliveryChannel2 = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2"
	// Appointment Management 1.2.0 and older demonstrator builds used -1 with a CodeableConcept.
	extDeliveryChannel1 = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-1"
)

const fhirJSON = "application/fhir+json"

// london is the zone every GP Connect date parameter and every slot's LocalDate is expressed in.
var london = mustLoadLondon()

func mustLoadLondon() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		// Unreachable: time/tzdata is embedded above.
		panic("gpconnect: load Europe/London: " + err.Error())
	}
	return loc
}
