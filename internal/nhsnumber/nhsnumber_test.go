package nhsnumber_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/nhsnumber"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "valid 9658218873", in: "9658218873", want: "9658218873"},
		{name: "valid 9658220223", in: "9658220223", want: "9658220223"},
		{name: "valid 9434765919", in: "9434765919", want: "9434765919"},
		{name: "check value 11 becomes 0", in: "9434765870", want: "9434765870"},
		{name: "printed 3-3-4 form", in: "965 821 8873", want: "9658218873"},
		{name: "wrong check digit", in: "9658218874", wantErr: nhsnumber.ErrCheckDigit},
		{name: "check value 10 never valid", in: "1000000010", wantErr: nhsnumber.ErrCheckDigit},
		{name: "check value 10 never valid, digit 9", in: "1000000019", wantErr: nhsnumber.ErrCheckDigit},
		{name: "transposed digits", in: "9658128873", wantErr: nhsnumber.ErrCheckDigit},
		{name: "all zeros placeholder", in: "0000000000", wantErr: nhsnumber.ErrPlaceholder},
		{name: "all nines placeholder", in: "9999999999", wantErr: nhsnumber.ErrPlaceholder},
		{name: "nine digits", in: "965821887", wantErr: nhsnumber.ErrFormat},
		{name: "eleven digits", in: "96582188731", wantErr: nhsnumber.ErrFormat},
		{name: "empty", in: "", wantErr: nhsnumber.ErrFormat},
		{name: "letters", in: "96582188X3", wantErr: nhsnumber.ErrFormat},
		{name: "hyphens", in: "965-821-8873", wantErr: nhsnumber.ErrFormat},
		{name: "spaces in wrong places", in: "9658 218 873", wantErr: nhsnumber.ErrFormat},
		{name: "double space", in: "965  821 8873", wantErr: nhsnumber.ErrFormat},
		{name: "leading space", in: " 9658218873", wantErr: nhsnumber.ErrFormat},
		{name: "trailing newline", in: "9658218873\n", wantErr: nhsnumber.ErrFormat},
		{name: "arabic-indic digits", in: "٩٦٥٨٢١٨٨٧٣", wantErr: nhsnumber.ErrFormat},
		{name: "fullwidth digits", in: "９６５８２１８８７３", wantErr: nhsnumber.ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := nhsnumber.Parse(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("Parse (-want +got):\n%s", diff)
			}
			if got, want := nhsnumber.Valid(tc.in), tc.wantErr == nil; got != want {
				t.Fatalf("Valid = %v, want %v", got, want)
			}
			if err != nil && tc.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
				t.Fatalf("error %q echoes the input", err)
			}
		})
	}
}

func TestCheckDigit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		first9 string
		want   byte
		wantOK bool
	}{
		{name: "965821887", first9: "965821887", want: '3', wantOK: true},
		{name: "943476587 (11 -> 0)", first9: "943476587", want: '0', wantOK: true},
		{name: "100000001 (10 -> invalid)", first9: "100000001", wantOK: false},
		{name: "too short", first9: "96582188", wantOK: false},
		{name: "non-digit", first9: "96582188a", wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := nhsnumber.CheckDigit(tc.first9)
			if ok != tc.wantOK || got != tc.want {
				t.Fatalf("CheckDigit(%q) = %q, %v; want %q, %v", tc.first9, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestEveryNineDigitPrefixHasAtMostOneCheckDigit checks the algorithm over a
// sweep: exactly one of the ten completions is valid unless the check value
// is 10, in which case none is.
func TestEveryNineDigitPrefixHasAtMostOneCheckDigit(t *testing.T) {
	t.Parallel()
	for base := 400000000; base < 400020000; base += 7 {
		prefix := itoa9(base)
		valid := 0
		for d := byte('0'); d <= '9'; d++ {
			if nhsnumber.Valid(prefix + string(d)) {
				valid++
			}
		}
		_, ok := nhsnumber.CheckDigit(prefix)
		want := 0
		if ok {
			want = 1
		}
		if valid != want {
			t.Fatalf("prefix %s: %d valid completions, want %d", prefix, valid, want)
		}
	}
}

func itoa9(n int) string {
	b := make([]byte, 9)
	for i := 8; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"9658218873", "965 821 8873", "", "0000000000", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := nhsnumber.Parse(s)
		if err != nil {
			return
		}
		if len(got) != 10 || !nhsnumber.Valid(got) {
			t.Fatalf("Parse(%q) = %q: not a canonical valid number", s, got)
		}
	})
}
