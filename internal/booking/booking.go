// Package booking books and cancels appointments at member practices
// through GP Connect, for the API (which books in the request) and the
// workers (which settle bookings whose outcome was lost, and cancel).
//
// Every operation follows one rule: claim, call, record. The booking
// intent is committed before the practice is called; no transaction, row
// lock or pooled connection is held while the call is in flight; the
// outcome is recorded afterwards by a transition that only moves the
// booking from the state the caller expected (store.ErrWrongState tells a
// late second writer that someone else recorded it). A booking POST is
// never repeated: GP Connect has no idempotency key, so a lost answer is
// settled by reading the patient's appointments at the practice, which
// gives no double booking and no phantom booking.
package booking

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"
	_ "time/tzdata" // appointment dates are Europe/London dates on any host

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/store"
)

// GPConnect is the part of the GP Connect client bookings use.
type GPConnect interface {
	FindPatient(ctx context.Context, p gpconnect.Provider, who gpconnect.Requester, nhs string) ([]gpconnect.Patient, error)
	RegisterPatient(ctx context.Context, p gpconnect.Provider, who gpconnect.Requester, d gpconnect.Demographics) (gpconnect.Patient, error)
	BookAppointment(ctx context.Context, p gpconnect.Provider, who gpconnect.Requester, a gpconnect.NewAppointment) (*gpconnect.Appointment, error)
	ReadAppointment(ctx context.Context, p gpconnect.Provider, who gpconnect.Requester, id string) (*gpconnect.Appointment, error)
	CancelAppointment(ctx context.Context, p gpconnect.Provider, who gpconnect.Requester, current *gpconnect.Appointment, reason string) (*gpconnect.Appointment, error)
	PatientAppointments(ctx context.Context, p gpconnect.Provider, who gpconnect.Requester, patientID, from, to string) ([]gpconnect.Appointment, error)
}

// Queue puts a booking's follow-up work into the queue. Postgres stays the
// source of truth: a lost entry is put back by the reconciler.
type Queue interface {
	EnqueueSettle(ctx context.Context, id uuid.UUID) error
	EnqueueCancel(ctx context.Context, id uuid.UUID, seq int) error
}

// Config configures a Service. Zero durations take the defaults below.
type Config struct {
	DB    *store.DB
	GPC   GPConnect
	Queue Queue // nil: the reconciler queues follow-up work
	// OrgType is the GPConnect-OrganisationType-1 code the slot search sent
	// in its searchFilter; the booking organisation carries the same.
	OrgType string
	// RequestTimeout bounds the practice calls one booking request makes
	// (find, perhaps register, book). Default 30s.
	RequestTimeout time.Duration
	// MaxAge bounds how long settling and cancelling keep retrying
	// transient failures. Default 24h.
	MaxAge time.Duration
	Log    *slog.Logger
	Now    func() time.Time
}

// Service books, settles and cancels. It is safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.GPC == nil {
		return nil, errors.New("booking: a database and a GP Connect client are required")
	}
	cfg.OrgType = cmp.Or(cfg.OrgType, "gp-practice")
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, 30*time.Second)
	cfg.MaxAge = cmp.Or(cfg.MaxAge, 24*time.Hour)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, log: cfg.Log.With("component", "booking")}, nil
}

// requester is the named person a call is attributed to, at their practice.
func requester(p store.Person, ods, orgName string) gpconnect.Requester {
	return gpconnect.Requester{
		Practitioner: gpconnect.Practitioner{ID: cmp.Or(p.UserID, p.SDSUserID), SDSUserID: p.SDSUserID,
			SDSRoleProfileID: p.SDSRoleProfileID, FamilyName: p.FamilyName, GivenName: p.GivenName},
		OrgODS: ods, OrgName: orgName,
	}
}

func provider(s store.BookedSlot) gpconnect.Provider {
	return gpconnect.Provider{ODS: s.HostODS, ASID: s.PracticeASID, ServiceRoot: s.PracticeEndpoint}
}

// hostOf loads the host practice's endpoint for a stored booking.
func (s *Service) hostOf(ctx context.Context, b store.Booking) (gpconnect.Provider, error) {
	p, err := s.cfg.DB.GetPractice(ctx, b.Slot.HostODS)
	if err != nil {
		return gpconnect.Provider{}, err
	}
	return gpconnect.Provider{ODS: p.ODSCode, ASID: p.ASID, ServiceRoot: p.Endpoint}, nil
}

// practiceName is a practice's name for the JWT ("" when unknown).
func (s *Service) practiceName(ctx context.Context, ods string) string {
	p, err := s.cfg.DB.GetPractice(ctx, ods)
	if err != nil {
		return ""
	}
	return p.Name
}

// spine describes a GP Connect failure for the audit trail and the caller.
func spine(err error) (status int, code, diag, trace string) {
	var gerr *gpconnect.Error
	if errors.As(err, &gerr) {
		diag = gerr.Diagnostics
		if diag == "" && gerr.Err != nil {
			diag = gerr.Err.Error()
		}
		return gerr.Status, gerr.SpineCode, scrub(diag), gerr.TraceID
	}
	return 0, "CLIENT_ERROR", scrub(err.Error()), ""
}

// london is the zone of appointment dates (GP Connect date parameters are UK local dates).
var london = func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("booking: load Europe/London: " + err.Error()) // unreachable: time/tzdata is embedded
	}
	return loc
}()
