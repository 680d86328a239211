package restjson

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestExactDecimal: where the fast path answers, it answers what
// strconv.ParseFloat does, bit for bit (-0 included), over hand-picked
// edge cases and a million random numbers in the forms clients print
// (%g, %f at several precisions, float32 shortest); and it declines what
// it cannot do exactly.
func TestExactDecimal(t *testing.T) {
	check := func(s string) bool {
		t.Helper()
		got, ok := exactDecimal([]byte(s))
		if !ok {
			return false
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s: strconv: %v", s, err)
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: fast path %v (%x), strconv %v (%x)", s, got, math.Float64bits(got), want, math.Float64bits(want))
		}
		return true
	}
	for _, s := range []string{"0", "-0", "0.0", "-0.0", "1", "10", "100.5", "0.1", "0.3", "-0.0039215689",
		"123456789012345", "0.000000000000000000001", "0.1234567890123456789e0"[:19], "9007199254740993", "3.4028235e38"[:9]} {
		check(s)
	}
	for _, s := range []string{"1e5", "1E-3", "1234567890123456", "0.12345678901234567", "0." + string(make([]byte, 0)) + "00000000000000000000001"} {
		if _, ok := exactDecimal([]byte(s)); ok {
			t.Errorf("%s: fast path answered; it should decline", s)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	answered := 0
	for i := range 1_000_000 {
		x := (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(12)-6))
		var s string
		switch i % 4 {
		case 0:
			s = strconv.FormatFloat(x, 'g', -1, 64)
		case 1:
			s = strconv.FormatFloat(x, 'f', r.IntN(12), 64)
		case 2:
			s = strconv.FormatFloat(float64(float32(x)), 'f', -1, 32)
		default:
			s = strconv.FormatFloat(x, 'g', 1+r.IntN(10), 64)
		}
		if check(s) {
			answered++
		}
	}
	if answered < 500_000 {
		t.Errorf("the fast path answered only %d of 1e6 numbers", answered)
	}
}
