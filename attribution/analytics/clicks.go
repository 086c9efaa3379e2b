package analytics

import (
	"context"
	"time"
)

// ClickReason is a reason code with its plain-language text.
type ClickReason struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// ClickSample is one recorded click, for drill-down. It carries no visitor identifiers,
// user agent or query string.
type ClickSample struct {
	ClickID     string        `json:"click_id"`
	Time        time.Time     `json:"ts"`
	Verdict     string        `json:"verdict"`
	Reasons     []ClickReason `json:"reasons"`
	Source      string        `json:"source"`
	Creative    string        `json:"creative"`
	SubID       string        `json:"sub_id"`
	RefererHost string        `json:"referer_host"`
	Path        string        `json:"path"`
	Device      string        `json:"device"`
	Browser     string        `json:"browser"`
}

// ClickSamples is the answer of GET /api/v1/clicks.
type ClickSamples struct {
	PartnerID string        `json:"partner_id"`
	From      time.Time     `json:"from"`
	To        time.Time     `json:"to"`
	Verdict   string        `json:"verdict,omitempty"`
	Limit     int           `json:"limit"`
	Clicks    []ClickSample `json:"clicks"`
}

// ClicksQuery selects recent clicks.
type ClicksQuery struct {
	Range Range
	// Verdict keeps one verdict; "flagged" keeps every verdict but valid; "" keeps all.
	Verdict string
	Limit   int
}

// clickWindows are the spans, ending at the range's end, searched in turn until Limit
// clicks are found: the newest rows sit at the end of the (partner_id, ts) order, so a
// recent window reads little however long the range is.
var clickWindows = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// Clicks returns the newest clicks of partner in the range, one row per click id.
func (a *Analytics) Clicks(ctx context.Context, partner string, q ClicksQuery) (*ClickSamples, error) {
	out := &ClickSamples{PartnerID: partner, From: q.Range.From, To: q.Range.To, Verdict: q.Verdict, Limit: q.Limit, Clicks: []ClickSample{}}
	windows := append(append([]time.Duration{}, clickWindows...), q.Range.To.Sub(q.Range.From))
	for _, w := range windows {
		from := q.Range.To.Add(-w)
		last := !from.After(q.Range.From)
		if last {
			from = q.Range.From
		}
		var s SQL
		s.Add("SELECT click_id, ts, verdict, reasons, source, creative, sub_id, referer_host, path, device, browser FROM "+a.t("clicks")+
			" WHERE partner_id = ? AND ts >= ? AND ts < ?", partner, from, q.Range.To)
		switch q.Verdict {
		case "":
		case "flagged":
			s.Add(" AND verdict != 'valid'")
		default:
			s.Add(" AND verdict = ?", q.Verdict)
		}
		s.Add(" ORDER BY ts DESC, click_id LIMIT 1 BY click_id LIMIT ?", q.Limit)
		out.Clicks = out.Clicks[:0]
		err := a.each(ctx, s, func(scan func(...any) error) error {
			var c ClickSample
			var reasons []string
			if err := scan(&c.ClickID, &c.Time, &c.Verdict, &reasons, &c.Source, &c.Creative, &c.SubID, &c.RefererHost, &c.Path, &c.Device, &c.Browser); err != nil {
				return err
			}
			c.Time = c.Time.UTC()
			c.Reasons = make([]ClickReason, len(reasons))
			for i, r := range reasons {
				c.Reasons[i] = ClickReason{Code: r, Text: ReasonText(r)}
			}
			out.Clicks = append(out.Clicks, c)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if last || len(out.Clicks) >= q.Limit {
			break
		}
	}
	return out, nil
}
