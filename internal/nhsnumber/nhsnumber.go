// Package nhsnumber validates NHS numbers: ten digits whose last digit is a
// Modulus 11 check digit over the first nine (weights 10 down to 2).
//
// Parse accepts the canonical ten digits, or the printed form with single
// spaces after the third and sixth digit ("943 476 5919"), and returns the
// canonical ten digits. Numbers made of one repeated digit ("0000000000",
// "1111111111") pass the checksum but are placeholders typed when the real
// number is unknown, so they are rejected. Error messages never contain the
// number itself, so they are safe to return to callers and to log.
package nhsnumber

import "errors"

// Validation errors. Each is safe to show: none contains the number.
var (
	ErrFormat      = errors.New("must be 10 digits, optionally written as 3-3-4 groups separated by single spaces")
	ErrCheckDigit  = errors.New("fails the Modulus 11 check digit test")
	ErrPlaceholder = errors.New("is a placeholder (one repeated digit), not a real NHS number")
)

// Parse returns the canonical 10-digit form of s, or one of the errors above.
func Parse(s string) (string, error) {
	digits, ok := canonical(s)
	if !ok {
		return "", ErrFormat
	}
	if !checkDigitOK(digits) {
		return "", ErrCheckDigit
	}
	if repeated(digits) {
		return "", ErrPlaceholder
	}
	return digits, nil
}

// Valid reports whether s is a valid NHS number in either accepted form.
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// CheckDigit computes the Modulus 11 check digit of nine digits. ok is false
// when the number has no valid check digit (remainder 1, check value 10) or
// when first9 is not nine ASCII digits.
func CheckDigit(first9 string) (digit byte, ok bool) {
	if len(first9) != 9 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		c := first9[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		sum += int(c-'0') * (10 - i)
	}
	check := 11 - sum%11
	switch check {
	case 11:
		check = 0
	case 10:
		return 0, false
	}
	return byte('0' + check), true
}

func checkDigitOK(digits string) bool {
	d, ok := CheckDigit(digits[:9])
	return ok && d == digits[9]
}

// canonical strips the two optional group separators of the printed form.
func canonical(s string) (string, bool) {
	if len(s) == 12 && s[3] == ' ' && s[7] == ' ' {
		s = s[:3] + s[4:7] + s[8:]
	}
	if len(s) != 10 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}

func repeated(digits string) bool {
	for i := 1; i < len(digits); i++ {
		if digits[i] != digits[0] {
			return false
		}
	}
	return true
}
