package api

import (
	"time"

	"github.com/gpfed/gpfed/internal/freeslot"
	"github.com/gpfed/gpfed/internal/store"
)

// personOut is a named person as the booking shows them.
type personOut struct {
	SDSUserID        string `json:"sds_user_id"`
	SDSRoleProfileID string `json:"sds_role_profile_id"`
	FamilyName       string `json:"family_name"`
	GivenName        string `json:"given_name"`
	UserID           string `json:"user_id,omitempty"`
}

func toPersonOut(p store.Person) personOut {
	return personOut{SDSUserID: p.SDSUserID, SDSRoleProfileID: p.SDSRoleProfileID, FamilyName: p.FamilyName,
		GivenName: p.GivenName, UserID: p.UserID}
}

// failureJSON is what the practice (or settling) said when it did not book
// or cancel.
type failureJSON struct {
	HTTPStatus *int   `json:"http_status"`
	SpineCode  string `json:"spine_code"`
	Detail     string `json:"detail,omitempty"`
}

// cancelJSON is a booking's cancel request.
type cancelJSON struct {
	Seq         int        `json:"seq"`
	RequestedBy string     `json:"requested_by"`
	RequestedAt *time.Time `json:"requested_at"`
	Reason      *string    `json:"reason"`
	CancelledBy *personOut `json:"cancelled_by"`
}

// bookingJSON is a booking as its two practices see it. Absent values are
// null rather than missing.
type bookingJSON struct {
	ID                 string             `json:"id"`
	State              string             `json:"state"`
	BookingODS         string             `json:"booking_ods"`
	HostODS            string             `json:"host_ods"`
	SlotID             string             `json:"slot_id"`
	Start              string             `json:"start"`
	End                string             `json:"end"`
	Minutes            int                `json:"minutes"`
	Role               *freeslot.CodeName `json:"role"`
	DeliveryChannel    *string            `json:"delivery_channel"`
	Location           *freeslot.IDName   `json:"location"`
	Practitioner       *freeslot.IDName   `json:"practitioner"`
	SlotType           *string            `json:"slot_type"`
	PatientNHSNumber   *string            `json:"patient_nhs_number"`
	Registered         bool               `json:"registered"`
	Description        string             `json:"description"`
	Comment            *string            `json:"comment"`
	BookedBy           personOut          `json:"booked_by"`
	AppointmentID      *string            `json:"appointment_id"`
	AppointmentVersion *string            `json:"appointment_version"`
	Failure            *failureJSON       `json:"failure"`
	Cancel             *cancelJSON        `json:"cancel"`
	CreatedAt          time.Time          `json:"created_at"`
	UpdatedAt          time.Time          `json:"updated_at"`
	BookedAt           *time.Time         `json:"booked_at"`
	FinishedAt         *time.Time         `json:"finished_at"`
	RedactedAt         *time.Time         `json:"redacted_at"`
	Events             []eventJSON        `json:"events,omitempty"`
}

func toBookingJSON(b store.Booking, events []store.BookingEvent) bookingJSON {
	s := b.Slot
	out := bookingJSON{ID: b.ID.String(), State: b.State, BookingODS: b.BookingODS, HostODS: s.HostODS,
		SlotID: freeslot.Key(s.HostODS, s.SlotID), Start: s.Start, End: s.End, Minutes: s.DurationMinutes,
		DeliveryChannel: nullable(s.DeliveryChannel), Location: freeslot.OptIDName(s.LocationID, s.SiteName),
		Practitioner: freeslot.OptIDName(s.PractitionerID, s.PractitionerName), SlotType: nullable(s.SlotType),
		PatientNHSNumber: nullable(b.PatientNHSNumber), Registered: b.Registered, Description: b.Description,
		Comment: nullable(b.Comment), BookedBy: toPersonOut(b.BookedBy), AppointmentID: nullable(b.AppointmentID),
		AppointmentVersion: nullable(b.AppointmentVersion), CreatedAt: b.CreatedAt.UTC(), UpdatedAt: b.UpdatedAt.UTC(),
		BookedAt: utc(b.BookedAt), FinishedAt: utc(b.FinishedAt), RedactedAt: utc(b.RedactedAt)}
	if s.RoleCode != "" {
		out.Role = &freeslot.CodeName{Code: s.RoleCode, Display: s.RoleDisplay}
	}
	if b.FailureCode != "" || b.FailureStatus != 0 {
		out.Failure = &failureJSON{SpineCode: b.FailureCode, Detail: b.FailureDetail}
		if b.FailureStatus != 0 {
			st := b.FailureStatus
			out.Failure.HTTPStatus = &st
		}
	}
	if b.CancelSeq > 0 {
		out.Cancel = &cancelJSON{Seq: b.CancelSeq, RequestedBy: b.CancelRequestedBy, RequestedAt: utc(b.CancelRequestedAt),
			Reason: nullable(b.CancelReason)}
		if b.CancelledBy != nil {
			p := toPersonOut(*b.CancelledBy)
			out.Cancel.CancelledBy = &p
		}
	}
	for _, e := range events {
		out.Events = append(out.Events, eventJSON{At: e.At.UTC(), Actor: e.Actor, Action: e.Action,
			FromState: nullable(e.FromState), ToState: nullable(e.ToState), Detail: e.Detail})
	}
	return out
}

// bookingProblem is a problem document with what a refused booking adds:
// the practice's Spine code and diagnostics, the failed booking's id, and
// for a taken slot the nearest alternatives.
type bookingProblem struct {
	Problem
	SpineCode    string           `json:"spine_code,omitempty"`
	Diagnostics  string           `json:"diagnostics,omitempty"`
	BookingID    string           `json:"booking_id,omitempty"`
	Alternatives *[]freeslot.View `json:"alternatives,omitempty"`
}
