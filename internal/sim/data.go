package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"time"
)

// practice is a member practice's static directory data; slots are derived from it per day.
type practice struct {
	ods, name, asid, secret string
	orgID                   string
	addr                    address
	phone                   string
	sites                   []site
	staff                   []clinician
	schedules               []schedule
	freeProb                float64 // chance that a bookable slot in a session is still free
	st                      state
	pats                    patientList
	bk                      bookState
}

type address struct {
	lines    []string
	city     string
	postcode string
}

type site struct {
	id, name, phone string
	addr            address
}

type clinician struct {
	id, sdsUserID, prefix, given, family, gender string
}

type schedule struct {
	id       string
	ref      string // "Schedule/" + id, as slots reference it
	role     *role
	site     int // index into practice.sites
	staff    int // index into practice.staff, -1 for a rota without a named clinician
	category string
	minutes  int
	sessions []session
}

// session is a recurring block of a schedule: on the weekdays in days, from start to end minutes
// after local midnight. Extended-access sessions carry slots reserved for other organisations.
type session struct {
	days       uint8 // bit per time.Weekday
	start, end int
	extended   bool
}

func (s session) on(d time.Weekday) bool { return s.days&(1<<d) != 0 }

const (
	weekdays = 1<<time.Monday | 1<<time.Tuesday | 1<<time.Wednesday | 1<<time.Thursday | 1<<time.Friday
	saturday = 1 << time.Saturday
)

// hashSeed mixes the seed with any strings into a PRNG seed, so that each (seed, practice) or
// (seed, practice, date) has its own independent, reproducible stream.
func hashSeed(seed int64, parts ...string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum64()
}

func newRand(seed int64, parts ...string) *rand.Rand {
	s := hashSeed(seed, parts...)
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// directoryGen hands out unique ODS codes and ASIDs; practices are built in index order.
type directoryGen struct {
	seed        int64
	slotsPerDay int
	usedODS     map[string]bool
	usedASID    map[string]bool
}

func newDirectoryGen(seed int64, slotsPerDay int) *directoryGen {
	return &directoryGen{seed: seed, slotsPerDay: slotsPerDay, usedODS: map[string]bool{}, usedASID: map[string]bool{}}
}

// restrictedODS is a Y-prefixed code (the prefix ODS gives hubs and out-of-hours services), so it
// never collides with a member practice's letter + 5 digit code chosen below.
func (g *directoryGen) restrictedODS() string {
	code := "Y" + digits(newRand(g.seed, "restricted-ods"), 5)
	g.usedODS[code] = true
	return code
}

const odsLetters = "ABCDEFGHJKLMNP" // regional prefixes of English GP practice codes

func (g *directoryGen) practice(i int) *practice {
	r := newRand(g.seed, "practice", strconv.Itoa(i))
	p := &practice{}
	if i == 0 {
		p.ods, p.name, p.asid = "A20047", "Dr Legg's Surgery", "918999198993"
	} else {
		p.ods = g.uniqueODS(r)
		p.name = practiceName(r)
		p.asid = g.uniqueASID(r)
	}
	g.usedODS[p.ods], g.usedASID[p.asid] = true, true
	p.secret = webhookSecret(g.seed, p.ods)
	p.orgID = strconv.Itoa(1 + r.IntN(60))
	p.addr, p.phone = randomAddress(r), phoneNumber(r)
	nSites := 1 + r.IntN(3)
	if i == 0 {
		nSites = 2 // the reference provider's practice has a main and a branch surgery
	}
	p.sites = makeSites(r, p, nSites)
	buildSchedules(r, p, g.slotsPerDay)
	return p
}

func (g *directoryGen) uniqueODS(r *rand.Rand) string {
	for {
		code := string(odsLetters[r.IntN(len(odsLetters))]) + digits(r, 5)
		if !g.usedODS[code] {
			return code
		}
	}
}

func (g *directoryGen) uniqueASID(r *rand.Rand) string {
	for {
		asid := strconv.Itoa(1+r.IntN(9)) + digits(r, 11)
		if !g.usedASID[asid] {
			return asid
		}
	}
}

func webhookSecret(seed int64, ods string) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("gpfed-sim/%d/%s/webhook", seed, ods)))
	return "whsec_" + hex.EncodeToString(sum[:16])
}

func practiceName(r *rand.Rand) string {
	if r.IntN(8) == 0 {
		return "The " + pick(r, placeNames) + " Practice"
	}
	return pick(r, placeNames) + " " + pick(r, practiceSuffixes)
}

func randomAddress(r *rand.Rand) address {
	pc := fmt.Sprintf("%c%c%d %d%c%c", 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)), 1+r.IntN(20),
		r.IntN(10), 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)))
	return address{
		lines:    []string{strconv.Itoa(1+r.IntN(200)) + " " + pick(r, streets)},
		city:     pick(r, towns),
		postcode: pc,
	}
}

func phoneNumber(r *rand.Rand) string { return "0" + strconv.Itoa(1+r.IntN(3)) + digits(r, 9) }

func makeSites(r *rand.Rand, p *practice, n int) []site {
	base := 1 + r.IntN(40)
	sites := []site{{id: strconv.Itoa(base), name: p.name, phone: p.phone, addr: p.addr}}
	for k := 1; k < n; k++ {
		a := randomAddress(r)
		a.city = p.addr.city
		sites = append(sites, site{
			id:    strconv.Itoa(base + k),
			name:  pick(r, placeNames) + " Branch Surgery",
			phone: phoneNumber(r),
			addr:  a,
		})
	}
	return sites
}

func newClinician(r *rand.Rand, p *practice, ro *role) int {
	c := clinician{
		id:        strconv.Itoa(len(p.staff) + 1),
		sdsUserID: digits(r, 12),
		prefix:    pick(r, ro.prefixes),
		given:     pick(r, givenNames),
		family:    pick(r, familyNames),
		gender:    pick(r, []string{"female", "male"}),
	}
	p.staff = append(p.staff, c)
	return len(p.staff) - 1
}
