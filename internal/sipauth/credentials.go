package sipauth

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/icholy/digest"
)

// parseCredentials reads a Digest Authorization header value as
// digest.ParseCredentials does, field for field, without the garbage of
// its reader (a 4 KiB buffer and a slice of runes per quoted value). Input
// it cannot read it hands to digest.ParseCredentials, whose error then
// says what was wrong.
func parseCredentials(s string) (digest.Credentials, error) {
	if c, ok := scanCredentials(s); ok {
		return c, nil
	}
	c, err := digest.ParseCredentials(s)
	if err != nil {
		return digest.Credentials{}, err
	}
	return *c, nil
}

// scanCredentials is the grammar of digest's parameter parser: pairs
// separated by commas and spaces, keys and unquoted values made of letters,
// digits and '-', quoted values with backslash escapes and invalid UTF-8
// read as U+FFFD. Later keys overwrite earlier ones; unknown keys are
// skipped. ok is false where digest.ParseCredentials fails.
func scanCredentials(s string) (c digest.Credentials, ok bool) {
	s, ok = digest.CutPrefix(s)
	if !ok {
		return c, false
	}
	i := 0
	for first := true; ; first = false {
		i = skipSpaces(s, i)
		if i == len(s) {
			return c, true
		}
		if !first {
			if s[i] != ',' {
				return c, false
			}
			i = skipSpaces(s, i+1)
		}
		var key, value string
		key, i = scanIdent(s, i)
		i = skipSpaces(s, i)
		if i == len(s) || s[i] != '=' {
			return c, false
		}
		i = skipSpaces(s, i+1)
		if i < len(s) && s[i] == '"' {
			if value, i, ok = scanQuoted(s, i+1); !ok {
				return c, false
			}
		} else {
			value, i = scanIdent(s, i)
		}
		switch key {
		case "username":
			c.Username = value
		case "realm":
			c.Realm = value
		case "nonce":
			c.Nonce = value
		case "uri":
			c.URI = value
		case "response":
			c.Response = value
		case "algorithm":
			c.Algorithm = value
		case "cnonce":
			c.Cnonce = value
		case "opaque":
			c.Opaque = value
		case "qop":
			c.QOP = value
		case "nc":
			nc, err := strconv.ParseInt(value, 16, 32)
			if err != nil {
				return c, false
			}
			c.Nc = int(nc)
		case "userhash":
			c.Userhash = strings.ToLower(value) == "true"
		}
	}
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

func scanIdent(s string, i int) (string, int) {
	j := i
	for j < len(s) {
		b := s[j]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-') {
			break
		}
		j++
	}
	return s[i:j], j
}

// scanQuoted reads a quoted value whose opening quote is before s[i] and
// returns it and the index after its closing quote. A plain ASCII value is
// a slice of s; one with escapes or other bytes is decoded rune by rune.
func scanQuoted(s string, i int) (string, int, bool) {
	for j := i; j < len(s); j++ {
		switch b := s[j]; {
		case b == '"':
			return s[i:j], j + 1, true
		case b == '\\' || b >= utf8.RuneSelf:
			return decodeQuoted(s, i)
		}
	}
	return "", 0, false
}

func decodeQuoted(s string, i int) (string, int, bool) {
	var b strings.Builder
	escaped := false
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case escaped:
			b.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '"':
			return b.String(), i, true
		default:
			b.WriteRune(r)
		}
	}
	return "", 0, false
}

// response appends to dst the digest response the client should have sent,
// in lower-case hex, as digest.Digest computes it for a challenge with the
// client's algorithm (MD5 or SHA-256, already checked), nonce and qop (""
// or "auth", already checked). Without a cnonce under qop, digest.Digest
// would make up a random one, which no client could have matched: ok is
// false.
func response(dst []byte, c *digest.Credentials, realm, method, password string) (resp []byte, ok bool) {
	sha := strings.EqualFold(c.Algorithm, "SHA-256")
	var buf [256]byte
	var a1, a2 [sha256.Size * 2]byte
	ha1 := hexSum(a1[:0], appendFields(append(buf[:0], c.Username...), realm, password), sha)
	ha2 := hexSum(a2[:0], appendFields(append(buf[:0], method...), c.URI), sha)
	b := appendFields(append(buf[:0], ha1...), c.Nonce)
	if c.QOP != "" {
		if c.Cnonce == "" {
			return dst, false
		}
		nc := c.Nc
		if nc == 0 {
			nc = 1
		}
		b = append(b, ':')
		if nc < 0 {
			b = fmt.Appendf(b, "%08x", nc)
		} else {
			b = appendHex8(b, uint64(nc))
		}
		b = appendFields(b, c.Cnonce, c.QOP)
	}
	b = append(append(b, ':'), ha2...)
	return hexSum(dst, b, sha), true
}

// appendFields appends each of fields to b after a colon.
func appendFields(b []byte, fields ...string) []byte {
	for _, f := range fields {
		b = append(append(b, ':'), f...)
	}
	return b
}

// appendHex8 is fmt's %08x of n.
func appendHex8(b []byte, n uint64) []byte {
	var digits [16]byte
	h := strconv.AppendUint(digits[:0], n, 16)
	for range 8 - len(h) {
		b = append(b, '0')
	}
	return append(b, h...)
}

// hexSum appends the hex of b's SHA-256 (sha) or MD5 to dst.
func hexSum(dst, b []byte, sha bool) []byte {
	if sha {
		s := sha256.Sum256(b)
		return hex.AppendEncode(dst, s[:])
	}
	s := md5.Sum(b)
	return hex.AppendEncode(dst, s[:])
}
