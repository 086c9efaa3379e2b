package sink_test

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/sink"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/deploy/bench/ingest"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/testenv"
)

// hostileClicks are clicks whose fields need escaping, are not valid UTF-8, or are
// empty, besides realistic ones.
func hostileClicks(now time.Time) []*event.Click {
	var out []*event.Click
	add := func(sub, path, ua string, reasons ...string) {
		c := event.AcquireClick()
		c.ID = event.NewClickID(now)
		c.Time = now
		c.Verdict = event.Bot
		c.SetPartner([]byte("p-hostile"))
		c.SetSubID([]byte(sub))
		c.SetPath([]byte(path))
		c.SetUserAgent([]byte(ua))
		for _, r := range reasons {
			c.AddReason(r)
		}
		out = append(out, c)
	}
	add(`quote " backslash \ slash /`, "/a\tb\nc\rd", "<script>alert('x')</script> & more")
	add("RTL \u202eevil\u202c and emoji 🦊👩‍💻", "/категории/дизайн", "line\u2028sep\u2029para", "ua:crawler", "hdr:no-accept")
	add("bad utf8 \xff\xfe end", "/\x00\x01\x1f\x7f", "trailing \xe2\x82", "r\xffr")
	add("", "", "")
	add("many reasons", "/", "x", "a", "b", "c", "d", "e", "f", "g", "h")
	return out
}

// jsonString is what a JSON consumer reads back for s: invalid UTF-8 bytes become U+FFFD.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// TestClickSinksRoundTrip writes realistic and hostile clicks through the ClickHouse and
// Kafka click sinks and reads every field back from ClickHouse and from the broker.
func TestClickSinksRoundTrip(t *testing.T) {
	ctx := t.Context()
	conn, db := testenv.ClickHouse(t)
	if err := sink.Migrate(ctx, conn, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	broker, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: []string{event.TopicClicks}})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	w := sink.NewWriter(broker.Addrs(), event.TopicClicks)
	defer w.Close()

	now := time.Now().UTC().Truncate(time.Millisecond)
	clicks := hostileClicks(now)
	gen := ingest.NewGenerator(7)
	for range 20000 { // more than two insert blocks
		c := event.AcquireClick()
		gen.Fill(c, now)
		clicks = append(clicks, c)
	}
	chSink := &sink.ClickHouseClicks{Conn: conn, DB: db}
	kSink := &sink.KafkaClicks{W: w}
	// Two writes of different sizes through the same sinks: buffers reused between
	// writes must not leak one batch into the next.
	for _, part := range [][]*event.Click{clicks[:1000], clicks[1000:]} {
		if err := chSink.Write(ctx, part); err != nil {
			t.Fatal(err)
		}
		if err := kSink.Write(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]*event.Click{}
	for _, c := range clicks {
		want[string(c.ID[:])] = c
	}

	rows, err := conn.Query(ctx, "SELECT click_id, ts, partner_id, verdict, reasons, source, creative, sub_id, visitor_id, "+
		"visitor_hash, referer_host, path, query, device, browser, user_agent FROM "+db+".clicks")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id, partner, verdict, source, creative, sub, vid, vhash, ref, path, query, device, browser, ua string
		var ts time.Time
		var reasons []string
		if err := rows.Scan(&id, &ts, &partner, &verdict, &reasons, &source, &creative, &sub, &vid, &vhash, &ref,
			&path, &query, &device, &browser, &ua); err != nil {
			t.Fatal(err)
		}
		c := want[id]
		if c == nil {
			t.Fatalf("ClickHouse has a click nobody wrote: %q", id)
		}
		n++
		got := []string{partner, verdict, source, creative, sub, vid, vhash, ref, path, query, device, browser, ua}
		exp := []string{c.Partner(), c.Verdict.String(), c.Source(), c.Creative(), c.SubID(), c.VisitorID(), c.VisitorHash(),
			c.RefererHost(), c.Path(), c.Query(), c.Device(), c.Browser(), c.UserAgent()}
		if !slices.Equal(got, exp) || !slices.Equal(reasons, c.Reasons()) || !ts.Equal(c.Time.Truncate(time.Second)) {
			t.Fatalf("ClickHouse row %s:\n got %q %q %v\nwant %q %q %v", id, got, reasons, ts, exp, c.Reasons(), c.Time)
		}
	}
	rows.Close()
	if n != len(clicks) {
		t.Fatalf("ClickHouse has %d rows, want %d", n, len(clicks))
	}

	msgs, err := kafkax.ReadAll(ctx, broker.Addrs(), event.TopicClicks)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(clicks) {
		t.Fatalf("broker has %d messages, want %d", len(msgs), len(clicks))
	}
	for _, m := range msgs {
		var env event.Envelope
		var p event.ClickPayload
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatalf("message is not JSON: %v\n%s", err, m.Value)
		}
		if err := env.Validate(); err != nil || env.Type != event.TypeClickRecorded {
			t.Fatalf("bad envelope %v: %s", err, m.Value)
		}
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			t.Fatal(err)
		}
		c := want[env.ID]
		if c == nil || p.ClickID != env.ID {
			t.Fatalf("broker has a click nobody wrote: %s", m.Value)
		}
		if string(m.Key) != c.Partner() || !env.OccurredAt.Equal(c.Time) {
			t.Fatalf("message %s: key %q time %v, want %q %v", env.ID, m.Key, env.OccurredAt, c.Partner(), c.Time)
		}
		got := []string{p.PartnerID, p.Verdict, p.Source, p.Creative, p.SubID, p.VisitorID, p.VisitorHash, p.RefererHost,
			p.Path, p.Query, p.Device, p.Browser, p.UserAgent, strings.Join(p.Reasons, "|")}
		var reasons []string
		for _, r := range c.Reasons() {
			reasons = append(reasons, jsonString(r))
		}
		exp := []string{c.Partner(), c.Verdict.String(), c.Source(), c.Creative(), c.SubID(), c.VisitorID(), c.VisitorHash(),
			c.RefererHost(), c.Path(), c.Query(), c.Device(), c.Browser(), c.UserAgent(), strings.Join(reasons, "|")}
		for i := range exp {
			exp[i] = jsonString(exp[i])
		}
		if !slices.Equal(got, exp) {
			t.Fatalf("message %s:\n got %q\nwant %q", env.ID, got, exp)
		}
		// The raw JSON is safe inside HTML: no raw <, >, & or line separators.
		if strings.ContainsAny(string(m.Value), "<>&\u2028\u2029") {
			t.Fatalf("message %s is not HTML-safe: %s", env.ID, m.Value)
		}
	}
	for _, c := range clicks {
		event.ReleaseClick(c)
	}
}
