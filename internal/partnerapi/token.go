package partnerapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
)

// Kinds of signed partner credential. The kind is the first field and is signed, so a
// login link cannot be replayed as an API token or a session.
const (
	kindAPIToken  = "pt1" // Authorization: Bearer, long-lived, revocable by id
	kindLoginLink = "pl1" // one-click login link from the marketplace, minutes
	kindSession   = "ps1" // dashboard session cookie, hours
)

// credential is a decoded, verified credential.
type credential struct {
	kind    string
	partner string
	id      string
	expires time.Time
}

var (
	errMalformed = errors.New("malformed credential")
	errSignature = errors.New("credential signature does not verify")
	errExpired   = errors.New("credential expired")
)

const maxCredentialLen = 256

// encode returns kind.partner.id.expiry.signature.
func encode(kr *signing.Keyring, c credential) string {
	msg := c.kind + "." + c.partner + "." + c.id + "." + strconv.FormatInt(c.expires.Unix(), 10)
	return string(kr.AppendSign([]byte(msg+"."), []byte(msg)))
}

// decode parses and verifies s, and checks kind and expiry against now.
func decode(kr *signing.Keyring, s, kind string, now time.Time) (credential, error) {
	var c credential
	if len(s) == 0 || len(s) > maxCredentialLen {
		return c, errMalformed
	}
	parts := strings.Split(s, ".")
	if len(parts) != 5 || parts[0] != kind || !refcookie.ValidPartnerID([]byte(parts[1])) || !isHex(parts[2]) {
		return c, errMalformed
	}
	exp, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || exp <= 0 {
		return c, errMalformed
	}
	msg := s[:len(s)-len(parts[4])-1]
	if !kr.Verify([]byte(msg), []byte(parts[4])) {
		return c, errSignature
	}
	c = credential{kind: parts[0], partner: parts[1], id: parts[2], expires: time.Unix(exp, 0)}
	if !now.Before(c.expires) {
		return c, errExpired
	}
	return c, nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isHex(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
