package frameguard

import "unicode/utf8"

// utf8Stream validates UTF-8 that arrives in pieces, carrying a character
// split between two pieces over to the next. A sequence that can no longer
// become valid fails as soon as its bad byte is seen, not when it ends.
type utf8Stream struct {
	carry [utf8.UTFMax]byte
	n     int
}

// write reports whether p, after what came before, is still valid so far.
func (s *utf8Stream) write(p []byte) bool {
	for s.n > 0 && len(p) > 0 {
		s.carry[s.n] = p[0]
		s.n++
		p = p[1:]
		if utf8.FullRune(s.carry[:s.n]) {
			if r, size := utf8.DecodeRune(s.carry[:s.n]); r == utf8.RuneError && size == 1 {
				return false
			}
			s.n = 0
		}
	}
	if tail := IncompleteTail(p); tail < len(p) {
		s.n = copy(s.carry[:], p[tail:])
		p = p[:tail]
	}
	return utf8.Valid(p)
}

// end reports whether the text ended on a whole character, and resets.
func (s *utf8Stream) end() bool {
	ok := s.n == 0
	s.n = 0
	return ok
}

// IncompleteTail returns where a last character that is valid so far but
// not complete starts in p, or len(p) if p ends on a whole character (or on
// bytes that can never be valid, which utf8.Valid then rejects).
func IncompleteTail(p []byte) int {
	for i := len(p) - 1; i >= 0 && i > len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if p[i] >= 0xC2 && p[i] <= 0xF4 && !utf8.FullRune(p[i:]) {
				return i
			}
			break
		}
	}
	return len(p)
}
