package event

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// Codec turns events into spool records and back.
type Codec[T any] struct {
	Encode func(dst []byte, e T) []byte
	Decode func(b []byte) (T, error)
}

// Spool codecs: each event is spooled as the JSON it is known by elsewhere (clicks and
// revocations as their Kafka envelopes), so a spool segment can be read by people.

// ClickCodec spools clicks.
var ClickCodec = Codec[*Click]{
	Encode: func(dst []byte, c *Click) []byte { return c.AppendEnvelope(dst) },
	Decode: func(b []byte) (*Click, error) {
		c := AcquireClick()
		if err := DecodeClick(b, c); err != nil {
			ReleaseClick(c)
			return nil, err
		}
		return c, nil
	},
}

// RevocationCodec spools revocations.
var RevocationCodec = Codec[*Revocation]{
	Encode: func(dst []byte, r *Revocation) []byte { return r.AppendEnvelope(dst) },
	Decode: func(b []byte) (*Revocation, error) {
		var env Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			return nil, err
		}
		var p struct {
			ClickID   string    `json:"click_id"`
			PartnerID string    `json:"partner_id"`
			Verdict   string    `json:"verdict"`
			ClickAt   time.Time `json:"click_at"`
			Reasons   []string  `json:"reasons"`
		}
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			return nil, err
		}
		v, ok := ParseVerdict(p.Verdict)
		if env.Type != TypeClickRevoked || !ok || p.ClickID == "" {
			return nil, errors.New("not a click.revoked event")
		}
		return &Revocation{ClickID: p.ClickID, PartnerID: p.PartnerID, ClickTime: p.ClickAt, Time: env.OccurredAt, Verdict: v, Reasons: p.Reasons}, nil
	},
}

// ImpressionCodec spools impressions.
var ImpressionCodec = Codec[*Impression]{
	Encode: func(dst []byte, im *Impression) []byte {
		dst = append(dst, `{"impression_id":`...)
		dst = appendString(dst, string(im.ID[:]))
		dst = append(dst, `,"ts":"`...)
		dst = im.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
		dst = appendField(dst, "partner_id", im.Partner())
		dst = appendField(dst, "source", im.Source())
		dst = appendField(dst, "creative", im.Creative())
		dst = appendField(dst, "size", im.Size())
		dst = appendField(dst, "render_id", im.RenderID())
		dst = appendField(dst, "visitor_id", im.VisitorID())
		dst = appendField(dst, "visitor_hash", im.VisitorHash())
		dst = appendField(dst, "referer_host", im.RefererHost())
		dst = appendField(dst, "device", im.Device())
		dst = appendField(dst, "country", im.Country())
		dst = append(dst, `,"asn":`...)
		dst = strconv.AppendUint(dst, uint64(im.ASN), 10)
		return append(dst, '}')
	},
	Decode: func(b []byte) (*Impression, error) {
		var p struct {
			ID          string    `json:"impression_id"`
			TS          time.Time `json:"ts"`
			Partner     string    `json:"partner_id"`
			Source      string    `json:"source"`
			Creative    string    `json:"creative"`
			Size        string    `json:"size"`
			RenderID    string    `json:"render_id"`
			VisitorID   string    `json:"visitor_id"`
			VisitorHash string    `json:"visitor_hash"`
			RefererHost string    `json:"referer_host"`
			Device      string    `json:"device"`
			Country     string    `json:"country"`
			ASN         uint32    `json:"asn"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, err
		}
		if len(p.ID) != len(ClickID{}) || p.TS.IsZero() {
			return nil, errors.New("not an impression record")
		}
		im := AcquireImpression(p.TS)
		copy(im.ID[:], p.ID)
		im.SetPartner([]byte(p.Partner))
		im.SetSource(p.Source)
		im.SetCreative([]byte(p.Creative))
		im.SetSize([]byte(p.Size))
		im.SetRenderID([]byte(p.RenderID))
		im.SetVisitorID([]byte(p.VisitorID))
		im.SetVisitorHash([]byte(p.VisitorHash))
		im.SetRefererHost([]byte(p.RefererHost))
		im.SetDevice(p.Device)
		im.SetCountry(p.Country)
		im.ASN = p.ASN
		return im, nil
	},
}
