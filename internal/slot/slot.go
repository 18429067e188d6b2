// Package slot holds the free slot as gpfed knows it: the one shape the GP Connect client
// decodes a Slot search into and the store writes to the snapshot, so that a sync, which carries
// millions of slots from one to the other, never copies them between two look-alike types.
// It imports nothing of gpfed's, so both sides can share it without one depending on the other.
package slot

import "time"

// Slot is one free, GP-Connect-bookable slot with what its Schedule, Location and Practitioner
// say about it. Fields whose source resource is absent from the provider's Bundle are empty.
type Slot struct {
	ID               string // Slot.id, unique within the practice
	Start, End       time.Time
	StartText        string // Slot.start exactly as the provider wrote it: a booking sends it back byte for byte
	EndText          string
	LocalDate        string // YYYY-MM-DD, Europe/London date of Start
	DurationMinutes  int
	ScheduleID       string // Schedule.id
	SessionName      string // Schedule.serviceCategory.text
	LocationID       string // first Location actor of the Schedule
	SiteName         string // that Location's name
	PractitionerID   string
	PractitionerName string
	RoleCode         string // Extension-GPConnect-PractitionerRole-1 on the Schedule
	RoleDisplay      string
	DeliveryChannel  string // In-person | Telephone | Video | "" (absent)
	SlotType         string // Slot.serviceType[0].text
}
