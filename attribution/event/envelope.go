package event

import (
	"encoding/json"
	"errors"
	"slices"
	"time"
	"unicode/utf8"
)

// Envelope is the JSON wrapper of every Kafka event (docs/commissions.md "Event contract").
type Envelope struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Version    int             `json:"version"`
	OccurredAt time.Time       `json:"occurred_at"`
	Payload    json.RawMessage `json:"payload"`
}

// Validate checks the fields every envelope must have.
func (e *Envelope) Validate() error {
	var errs []error
	if e.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if e.Type == "" {
		errs = append(errs, errors.New("type is empty"))
	}
	if e.Version != 1 {
		errs = append(errs, errors.New("version must be 1"))
	}
	if e.OccurredAt.IsZero() {
		errs = append(errs, errors.New("occurred_at is missing"))
	}
	if len(e.Payload) == 0 || e.Payload[0] != '{' {
		errs = append(errs, errors.New("payload must be an object"))
	}
	return errors.Join(errs...)
}

// Event types refedge produces about traffic.
const (
	TypeClickRecorded = "click.recorded"
	TypeClickRevoked  = "click.revoked"
)

// AppendEnvelope appends the click as a click.recorded envelope. The envelope id is the
// click id, so consumers deduplicate redeliveries by it.
func (c *Click) AppendEnvelope(dst []byte) []byte {
	dst = slices.Grow(dst, EnvelopeSize(c))
	dst = append(dst, `{"id":`...)
	dst = appendID(dst, &c.ID)
	dst = append(dst, `,"type":"`+TypeClickRecorded+`","version":1,"occurred_at":"`...)
	dst = c.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","payload":{"click_id":`...)
	dst = appendID(dst, &c.ID)
	dst = appendField(dst, "partner_id", c.Partner())
	dst = appendField(dst, "verdict", c.Verdict.String())
	dst = append(dst, `,"reasons":[`...)
	for i := range c.reasons {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, c.Reason(i))
	}
	dst = append(dst, ']')
	dst = appendField(dst, "source", c.Source())
	dst = appendField(dst, "creative", c.Creative())
	dst = appendField(dst, "sub_id", c.SubID())
	dst = appendField(dst, "visitor_id", c.VisitorID())
	dst = appendField(dst, "visitor_hash", c.VisitorHash())
	dst = appendField(dst, "referer_host", c.RefererHost())
	dst = appendField(dst, "path", c.Path())
	dst = appendField(dst, "query", c.Query())
	dst = appendField(dst, "device", c.Device())
	dst = appendField(dst, "browser", c.Browser())
	dst = appendField(dst, "user_agent", c.UserAgent())
	return append(dst, "}}"...)
}

// envelopeOverhead is the size of a click envelope's fixed parts: names, punctuation,
// ids and time.
const envelopeOverhead = 420

// envelopeSize is about the size of c's envelope: the fixed parts, the fields' bytes and
// room for some escaping. AppendEnvelope grows its buffer once by it.
func EnvelopeSize(c *Click) int { return envelopeOverhead + len(c.a.b) + len(c.a.b)/8 }

// ClickPayload is the decoded payload of click.recorded.
type ClickPayload struct {
	ClickID     string   `json:"click_id"`
	PartnerID   string   `json:"partner_id"`
	Verdict     string   `json:"verdict"`
	Reasons     []string `json:"reasons"`
	Source      string   `json:"source"`
	Creative    string   `json:"creative"`
	SubID       string   `json:"sub_id"`
	VisitorID   string   `json:"visitor_id"`
	VisitorHash string   `json:"visitor_hash"`
	RefererHost string   `json:"referer_host"`
	Path        string   `json:"path"`
	Query       string   `json:"query"`
	Device      string   `json:"device"`
	Browser     string   `json:"browser"`
	UserAgent   string   `json:"user_agent"`
}

// DecodeClick fills c (acquired from the pool) from a click.recorded envelope.
func DecodeClick(b []byte, c *Click) error {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return err
	}
	if err := env.Validate(); err != nil {
		return err
	}
	if env.Type != TypeClickRecorded {
		return errors.New("not a click.recorded event")
	}
	var p ClickPayload
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		return err
	}
	v, ok := ParseVerdict(p.Verdict)
	if !ok || len(p.ClickID) != len(c.ID) {
		return errors.New("bad verdict or click_id")
	}
	copy(c.ID[:], p.ClickID)
	c.Time, c.Verdict = env.OccurredAt, v
	c.partner, c.source, c.creative, c.subID = c.a.puts(p.PartnerID), c.a.puts(p.Source), c.a.puts(p.Creative), c.a.puts(p.SubID)
	c.visitorID, c.visitorHash, c.refererHost = c.a.puts(p.VisitorID), c.a.puts(p.VisitorHash), c.a.puts(p.RefererHost)
	c.path, c.query, c.device, c.browser, c.userAgent = c.a.puts(p.Path), c.a.puts(p.Query), c.a.puts(p.Device), c.a.puts(p.Browser), c.a.puts(p.UserAgent)
	for _, r := range p.Reasons {
		c.AddReason(r)
	}
	return nil
}

func appendEnvelopeHead(dst []byte, id, typ string, t time.Time) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, typ)
	dst = append(dst, `,"version":1,"occurred_at":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `","payload":{`...)
}

func appendField(dst []byte, name, v string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return appendString(dst, v)
}

const hexDigits = "0123456789abcdef"

// jsonPlain[c] is true for the ASCII bytes appendString copies as they are.
var jsonPlain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD, and <, >, &
// and the line separators are escaped so the output is safe inside HTML too. Runs of
// bytes that need nothing are copied at once: most fields are plain ASCII.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonPlain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // control bytes, <, >, &
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendID appends a click id as a JSON string. Ids are hex digits and dashes, so they
// are copied as they are; anything else (a damaged spool record) goes through
// appendString.
func appendID(dst []byte, id *ClickID) []byte {
	for _, c := range id {
		if c >= utf8.RuneSelf || !jsonPlain[c] {
			return appendString(dst, string(id[:]))
		}
	}
	dst = append(dst, '"')
	dst = append(dst, id[:]...)
	return append(dst, '"')
}
