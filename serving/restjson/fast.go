package restjson

import (
	"fmt"
	"strconv"

	"github.com/tfgo-project/gotf/tfwrap/dtype"
)

// fastArray decodes the common case straight from bytes: a nested list of
// numbers (or booleans) for one input, without building a tree of
// interface values. It reports ok=false, without an error, for anything
// else (strings, objects, nulls, malformed JSON), which the general
// decoder then handles and explains.
func fastArray(raw []byte, in Input, lim Limits, count *int) (a *Array, ok bool, err error) {
	if in.DType == dtype.String {
		return nil, false, nil
	}
	p := &fastParser{buf: raw, in: in, lim: lim, count: count, a: &Array{}}
	p.skipSpace()
	if !p.value(0) {
		return nil, false, p.err
	}
	p.skipSpace()
	if p.pos != len(p.buf) {
		return nil, false, nil
	}
	if p.init && len(p.shape) != p.leaf {
		return nil, false, nil
	}
	p.a.Shape = p.shape
	if p.a.Shape == nil {
		p.a.Shape = []int64{}
	}
	return p.a, true, nil
}

type fastParser struct {
	buf   []byte
	pos   int
	in    Input
	lim   Limits
	count *int
	a     *Array
	shape []int64 // lengths seen so far, per depth
	leaf  int     // depth of the scalars, -1 until the first
	err   error   // a definite error (ragged, range, size), not a fallback
	init  bool
}

func (p *fastParser) skipSpace() {
	for p.pos < len(p.buf) {
		switch p.buf[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses one value at depth; false means stop (p.err says whether
// that is an error or a fallback).
func (p *fastParser) value(depth int) bool {
	if depth > p.lim.MaxDepth {
		p.err = bad("input %q is nested deeper than %d", p.in.Name, p.lim.MaxDepth)
		return false
	}
	if p.pos >= len(p.buf) {
		return false
	}
	if p.buf[p.pos] == '[' {
		return p.list(depth)
	}
	if !p.init {
		p.init, p.leaf = true, depth
	} else if depth != p.leaf {
		return false // ragged in depth: let the general decoder explain
	}
	*p.count++
	if *p.count > p.lim.MaxElements {
		p.err = fmt.Errorf("%w: the request holds more than %d elements", ErrTooLarge, p.lim.MaxElements)
		return false
	}
	return p.scalar()
}

func (p *fastParser) list(depth int) bool {
	p.pos++ // '['
	p.skipSpace()
	n := int64(0)
	if p.pos < len(p.buf) && p.buf[p.pos] == ']' {
		p.pos++
	} else {
		for {
			if !p.value(depth + 1) {
				return false
			}
			n++
			p.skipSpace()
			if p.pos >= len(p.buf) {
				return false
			}
			if p.buf[p.pos] == ',' {
				p.pos++
				p.skipSpace()
				continue
			}
			if p.buf[p.pos] == ']' {
				p.pos++
				break
			}
			return false
		}
	}
	if n == 0 && !p.init {
		return false // an empty list: the general decoder reports it
	}
	for len(p.shape) <= depth {
		p.shape = append(p.shape, -1) // inner lists finish before outer ones
	}
	if p.shape[depth] == -1 {
		p.shape[depth] = n
	} else if p.shape[depth] != n {
		p.err = bad("input %q is ragged: expected a list of %d, got %d elements", p.in.Name, p.shape[depth], n)
		return false
	}
	return true
}

func (p *fastParser) scalar() bool {
	c := p.buf[p.pos]
	if p.in.DType == dtype.Bool {
		switch {
		case c == 't' && p.literal("true"):
			putBool(p.a, true)
			return true
		case c == 'f' && p.literal("false"):
			putBool(p.a, false)
			return true
		}
		return false
	}
	start := p.pos
	if !p.number() {
		p.pos = start
		return false
	}
	tok := p.buf[start:p.pos]
	switch p.in.DType {
	case dtype.Float32, dtype.Float64:
		f, ok := exactDecimal(tok)
		var err error
		if !ok {
			f, err = strconv.ParseFloat(string(tok), 64)
		}
		if err != nil || !putFloat(p.a, p.in.DType, f) {
			p.err = bad("input %q: %s is out of range for %v", p.in.Name, tok, p.in.DType)
			return false
		}
	default:
		i, err := strconv.ParseInt(string(tok), 10, 64)
		if err != nil {
			p.err = bad("input %q: %s is not an integer in range for %v", p.in.Name, tok, p.in.DType)
			return false
		}
		if err := putInt(p.a, p.in, i); err != nil {
			p.err = err
			return false
		}
	}
	return true
}

func (p *fastParser) literal(s string) bool {
	if len(p.buf)-p.pos >= len(s) && string(p.buf[p.pos:p.pos+len(s)]) == s {
		p.pos += len(s)
		return true
	}
	return false
}

// number scans a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *fastParser) number() bool {
	b, i := p.buf, p.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	p.pos = i
	return true
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// exactDecimal parses the commonest JSON number a tensor holds, digits
// with at most a decimal point (tok is a valid JSON number), when it has
// at most 15 significant digits and 22 after the point: the digits are
// then an exact float64 and so is the power of ten, and IEEE division
// rounds their quotient correctly, to what strconv.ParseFloat returns
// (Clinger's fast path, without strconv's general scanning). Anything
// else reports false.
func exactDecimal(tok []byte) (float64, bool) {
	i, neg := 0, false
	if len(tok) > 0 && tok[0] == '-' {
		i, neg = 1, true
	}
	var m uint64
	digits, frac, dot := 0, 0, false
	for ; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c >= '0' && c <= '9':
			if dot {
				frac++
			}
			if m == 0 && c == '0' {
				continue // a leading zero: not significant
			}
			if digits++; digits > 15 {
				return 0, false
			}
			m = m*10 + uint64(c-'0')
		case c == '.':
			dot = true
		default:
			return 0, false // an exponent
		}
	}
	if frac >= len(pow10) {
		return 0, false
	}
	f := float64(m) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}
