package restjson

import (
	"encoding/json"
)

// Envelope is a predict body split into its top-level fields, without
// decoding the (possibly large) tensor values yet.
type Envelope struct {
	Signature string
	instances []byte
	inputs    []byte
}

// Parse splits a predict body: {"signature_name": …, "instances": … } or
// {…, "inputs": …}. The values are decoded later, against the signature
// the caller picks with Signature, by Envelope.Decode.
func Parse(body []byte) (*Envelope, error) {
	s := &scanner{buf: body}
	s.space()
	if !s.eat('{') {
		return nil, bad("the body is not a JSON object")
	}
	env := &Envelope{}
	seen := map[string]bool{}
	s.space()
	if !s.eat('}') {
		for {
			s.space()
			keyRaw, ok := s.stringToken()
			if !ok {
				return nil, bad("the body is not a JSON object: bad key at byte %d", s.pos)
			}
			var key string
			if err := json.Unmarshal(keyRaw, &key); err != nil {
				return nil, bad("the body is not a JSON object: bad key at byte %d", s.pos)
			}
			s.space()
			if !s.eat(':') {
				return nil, bad("the body is not a JSON object: expected ':' at byte %d", s.pos)
			}
			s.space()
			start := s.pos
			if !s.skipValue(0) {
				return nil, bad("the body is not a JSON object: bad value for %q at byte %d", key, s.pos)
			}
			val := body[start:s.pos]
			if seen[key] {
				return nil, bad("field %q appears twice", key)
			}
			seen[key] = true
			switch key {
			case "signature_name":
				if err := json.Unmarshal(val, &env.Signature); err != nil {
					return nil, bad("signature_name must be a string")
				}
			case "instances":
				env.instances = val
			case "inputs":
				env.inputs = val
			default:
				return nil, bad("unknown field %q (want instances or inputs, and signature_name)", key)
			}
			s.space()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return nil, bad("the body is not a JSON object: expected ',' or '}' at byte %d", s.pos)
		}
	}
	s.space()
	if s.pos != len(body) {
		return nil, bad("trailing data after the JSON object")
	}
	switch {
	case env.instances != nil && env.inputs != nil:
		return nil, bad("give either instances or inputs, not both")
	case env.instances == nil && env.inputs == nil:
		return nil, bad("missing instances or inputs")
	}
	return env, nil
}

// Decode decodes the values against the signature's inputs.
func (env *Envelope) Decode(inputs []Input, lim Limits) (*Request, error) {
	if lim.MaxElements <= 0 {
		lim.MaxElements = 1 << 24
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = 32
	}
	if len(inputs) == 0 {
		return nil, bad("the signature has no inputs")
	}
	req := &Request{Signature: env.Signature, Inputs: map[string]*Array{}}
	d := &decoder{lim: lim}
	if env.inputs != nil {
		req.Columnar = true
		return req, d.columnar(env.inputs, inputs, req)
	}
	return req, d.rows(env.instances, inputs, req)
}

// scanner skips over JSON values without building them; the values it
// delimits are parsed (and validated) later.
type scanner struct {
	buf []byte
	pos int
}

func (s *scanner) space() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.pos < len(s.buf) && s.buf[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

func (s *scanner) stringToken() ([]byte, bool) {
	start := s.pos
	if !s.eat('"') {
		return nil, false
	}
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case '\\':
			s.pos += 2
		case '"':
			s.pos++
			return s.buf[start:s.pos], true
		default:
			if s.buf[s.pos] < 0x20 {
				return nil, false
			}
			s.pos++
		}
	}
	return nil, false
}

const maxScanDepth = 512

func (s *scanner) skipValue(depth int) bool {
	if depth > maxScanDepth || s.pos >= len(s.buf) {
		return false
	}
	switch c := s.buf[s.pos]; {
	case c == '"':
		_, ok := s.stringToken()
		return ok
	case c == '[' || c == '{':
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		s.pos++
		s.space()
		if s.eat(closer) {
			return true
		}
		for {
			s.space()
			if c == '{' {
				if _, ok := s.stringToken(); !ok {
					return false
				}
				s.space()
				if !s.eat(':') {
					return false
				}
				s.space()
			}
			if !s.skipValue(depth + 1) {
				return false
			}
			s.space()
			if s.eat(',') {
				continue
			}
			return s.eat(closer)
		}
	default: // number or literal: up to the next delimiter
		start := s.pos
		for s.pos < len(s.buf) {
			switch s.buf[s.pos] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return s.pos > start
			}
			s.pos++
		}
		return s.pos > start
	}
}
