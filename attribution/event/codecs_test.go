package event

import (
	"testing"
	"time"
)

// impressionFields lists every field of an impression, for comparing two of them.
func impressionFields(im *Impression) [13]any {
	return [13]any{string(im.ID[:]), im.Time.UnixNano(), im.Partner(), im.Source(), im.Creative(), im.Size(),
		im.RenderID(), im.VisitorID(), im.VisitorHash(), im.RefererHost(), im.Device(), im.Country(), im.ASN}
}

// TestImpressionCodecRoundTrip: a spooled impression decodes to the same fields,
// country and ASN included; a record spooled before impressions carried them decodes
// with "" and 0, unknown.
func TestImpressionCodecRoundTrip(t *testing.T) {
	f := func(country string, asn uint32) {
		t.Helper()
		im := AcquireImpression(time.Unix(1795262400, 123456789))
		defer ReleaseImpression(im)
		im.SetPartner([]byte("p-1"))
		im.SetSource(SourceBanner)
		im.SetCreative([]byte("services"))
		im.SetSize([]byte("300x250"))
		im.SetRenderID([]byte("v3"))
		im.SetVisitorID([]byte("AAAAAAAAAAAAAAAAAAAAAA"))
		im.SetVisitorHash([]byte("h\"<x>"))
		im.SetRefererHost([]byte("blog.example"))
		im.SetDevice("mobile")
		im.SetCountry(country)
		im.ASN = asn
		b := ImpressionCodec.Encode(nil, im)
		got, err := ImpressionCodec.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		defer ReleaseImpression(got)
		if impressionFields(got) != impressionFields(im) {
			t.Fatalf("round trip of %s:\n got %v\nwant %v", b, impressionFields(got), impressionFields(im))
		}
	}
	f("RU", 12389)
	f("DE", 4294967295)
	f("", 0)

	old := `{"impression_id":"0190a0b0-0000-7000-8000-000000000001","ts":"2026-11-20T10:00:00Z","partner_id":"p-1","source":"widget"}`
	im, err := ImpressionCodec.Decode([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if im.Country() != "" || im.ASN != 0 || im.Partner() != "p-1" {
		t.Fatalf("an older record decoded to country %q ASN %d partner %q", im.Country(), im.ASN, im.Partner())
	}
	ReleaseImpression(im)
}

// FuzzImpressionCodec: whatever the spool holds, decoding never panics, and what
// decodes encodes back to a record that decodes to the same impression.
func FuzzImpressionCodec(f *testing.F) {
	im := AcquireImpression(time.Unix(1795262400, 0))
	im.SetPartner([]byte("p-1"))
	im.SetCountry("RU")
	im.ASN = 12389
	f.Add(ImpressionCodec.Encode(nil, im))
	ReleaseImpression(im)
	f.Add([]byte(`{"impression_id":"0190a0b0-0000-7000-8000-000000000001","ts":"2026-11-20T10:00:00Z","asn":-1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := ImpressionCodec.Decode(b)
		if err != nil {
			return
		}
		defer ReleaseImpression(im)
		b2 := ImpressionCodec.Encode(nil, im)
		im2, err := ImpressionCodec.Decode(b2)
		if err != nil {
			t.Fatalf("%s re-encoded as %s, which does not decode: %v", b, b2, err)
		}
		defer ReleaseImpression(im2)
		if impressionFields(im2) != impressionFields(im) {
			t.Fatalf("%s: %v, then %v", b, impressionFields(im), impressionFields(im2))
		}
	})
}
