package gpconnect

import (
	"fmt"
	"time"
)

// instantError is a date-time gpfed cannot read.
type instantError struct{ raw string }

func (e *instantError) Error() string { return fmt.Sprintf("not a FHIR instant: %.40q", e.raw) }

// parseInstantBytes reads a slot's start or end. The form every provider sends,
// yyyy-mm-ddThh:mm:ss followed by +hh:mm, -hh:mm or Z, is read directly (no allocation); anything
// else goes through parseInstant, which decides exactly as time.Parse does.
func parseInstantBytes(b []byte) (time.Time, error) {
	if t, ok := fastInstant(b); ok {
		return t, nil
	}
	t, err := parseInstant(string(b))
	if err != nil {
		return time.Time{}, &instantError{raw: string(b)}
	}
	return t, nil
}

// parseInstant accepts FHIR instant/dateTime forms with an offset or Z, with or without
// fractional seconds. A missing offset (invalid FHIR, but seen) is read as UK local time.
// The result is in Europe/London.
func parseInstant(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var lerr error
		t, lerr = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, london)
		if lerr != nil {
			return time.Time{}, &instantError{raw: s}
		}
	}
	return t.In(london), nil
}

// fastInstant parses exactly yyyy-mm-ddThh:mm:ss(Z|±hh:mm) with every field in range; ok is
// false for any other input (which the slow path then judges).
func fastInstant(b []byte) (time.Time, bool) {
	if len(b) != 20 && len(b) != 25 {
		return time.Time{}, false
	}
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	offset := 0
	switch {
	case len(b) == 20 && b[19] == 'Z':
	case len(b) == 25 && (b[19] == '+' || b[19] == '-') && b[22] == ':':
		oh, okh := num(b[20:22])
		om, okm := num(b[23:25])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if b[19] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec) - int64(offset)
	return time.Unix(unix, 0).In(london), true
}

func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m time.Month, year int) int {
	if m == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + int((m+m/8)%2)
}

// daysSinceEpoch is the days from 1970-01-01 to a proleptic Gregorian date (Hinnant's algorithm).
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
