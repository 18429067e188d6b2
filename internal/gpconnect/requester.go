package gpconnect

import (
	"errors"
	"strings"
)

// Requester is the named person a user-initiated call (find patient, book,
// cancel) is made by, and the organisation they work for. GP Connect's audit
// trail attributes every call to the person in the JWT: a booking is made by
// someone, so it must never carry the configured responsible person that
// unattended syncs use, nor a generic user.
type Requester struct {
	Practitioner Practitioner
	OrgODS       string // requesting_organization; "" keeps the consumer's
	OrgName      string
}

// Validate checks the parts the JWT needs: a person with an id, an SDS user
// id and a family name.
func (r Requester) Validate() error {
	var errs []error
	if strings.TrimSpace(r.Practitioner.ID) == "" {
		errs = append(errs, errors.New("requester: practitioner id is required"))
	}
	if strings.TrimSpace(r.Practitioner.SDSUserID) == "" {
		errs = append(errs, errors.New("requester: SDS user id is required"))
	}
	if strings.TrimSpace(r.Practitioner.FamilyName) == "" {
		errs = append(errs, errors.New("requester: family name is required"))
	}
	return errors.Join(errs...)
}

// as returns the consumer a call is made as: this one, or for who.
func (c Consumer) as(who *Requester) Consumer {
	if who == nil {
		return c
	}
	c.Practitioner = who.Practitioner
	if who.OrgODS != "" {
		c.ODS, c.Name = who.OrgODS, who.OrgName
	}
	return c
}
