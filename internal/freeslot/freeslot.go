// Package freeslot renders free slots for people, programs and
// spreadsheets: the API (GET /v1/slots, a 409's alternatives) and the CLI
// (`gpfed slots`) share it, so both show a slot the same way.
package freeslot

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
	_ "time/tzdata" // slot times are shown in Europe/London on any host

	"github.com/gpfed/gpfed/internal/store"
)

// CodeName is a coded value with its display text.
type CodeName struct {
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// IDName is a resource of a practice (site, clinician, schedule) by id and name.
type IDName struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// View is one free slot. Start and End are the practice's own text (UK
// local time with its offset), which is what a booking sends back.
type View struct {
	ID              string     `json:"id"`
	Practice        IDName     `json:"practice"`
	Start           string     `json:"start"`
	End             string     `json:"end"`
	Minutes         int        `json:"minutes"`
	Role            *CodeName  `json:"role"`
	DeliveryChannel *string    `json:"delivery_channel"`
	Location        *IDName    `json:"location"`
	Practitioner    *IDName    `json:"practitioner"`
	Schedule        *IDName    `json:"schedule"`
	SlotType        *string    `json:"slot_type"`
	AsOf            *time.Time `json:"as_of"` // the practice's last successful sync
}

// Key is the federation-wide id of a slot: "<ODS>:<slot id at the practice>".
func Key(ods, slotID string) string { return ods + ":" + slotID }

// ToView renders a free slot.
func ToView(f store.FreeSlot) View {
	s := f.BookedSlot
	v := View{ID: Key(s.HostODS, s.SlotID), Practice: IDName{ID: s.HostODS, Name: s.PracticeName},
		Start: s.Start, End: s.End, Minutes: s.DurationMinutes, DeliveryChannel: nullable(s.DeliveryChannel),
		Location: OptIDName(s.LocationID, s.SiteName), Practitioner: OptIDName(s.PractitionerID, s.PractitionerName),
		Schedule: OptIDName(s.ScheduleID, ""), SlotType: nullable(s.SlotType)}
	if f.AsOf != nil {
		t := f.AsOf.UTC()
		v.AsOf = &t
	}
	if s.RoleCode != "" {
		v.Role = &CodeName{Code: s.RoleCode, Display: s.RoleDisplay}
	}
	return v
}

// OptIDName is nil for an empty id.
func OptIDName(id, name string) *IDName {
	if id == "" {
		return nil
	}
	return &IDName{ID: id, Name: name}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CSVHeader is the fixed column list of WriteCSV.
var CSVHeader = []string{"id", "ods_code", "practice_name", "start", "end", "minutes", "role_code", "role",
	"delivery_channel", "location_id", "location", "practitioner_id", "practitioner", "slot_type", "as_of"}

// WriteCSV writes a header row and one row per slot, in a fixed column order.
func WriteCSV(w io.Writer, slots []store.FreeSlot) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, f := range slots {
		s := f.BookedSlot
		asOf := ""
		if f.AsOf != nil {
			asOf = f.AsOf.UTC().Format(time.RFC3339)
		}
		if err := cw.Write([]string{Key(s.HostODS, s.SlotID), s.HostODS, s.PracticeName, s.Start, s.End,
			strconv.Itoa(s.DurationMinutes), s.RoleCode, s.RoleDisplay, s.DeliveryChannel, s.LocationID, s.SiteName,
			s.PractitionerID, s.PractitionerName, s.SlotType, asOf}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes the slots as an aligned table for a terminal.
func WriteTable(w io.Writer, slots []store.FreeSlot) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tPRACTICE\tSTART\tMIN\tROLE\tCHANNEL\tSITE\tCLINICIAN\tAS OF")
	for _, f := range slots {
		s := f.BookedSlot
		asOf := "never"
		if f.AsOf != nil {
			asOf = f.AsOf.In(london).Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", Key(s.HostODS, s.SlotID), s.PracticeName,
			s.StartAt.In(london).Format("Mon 2006-01-02 15:04"), s.DurationMinutes, orDash(s.RoleDisplay),
			orDash(s.DeliveryChannel), orDash(s.SiteName), orDash(s.PractitionerName), asOf)
	}
	fmt.Fprintf(tw, "%d free slots\n", len(slots))
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var london = func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("freeslot: load Europe/London: " + err.Error()) // unreachable: time/tzdata is embedded
	}
	return loc
}()
