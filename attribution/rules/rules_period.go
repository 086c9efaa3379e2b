package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Period is a calendar length of time written as an ISO 8601 duration ("P30D", "P3Y",
// "P1Y6M", "PT5M"). Years, months and days are calendar units applied in UTC with
// time.AddDate: three years after 2024-02-29 is 2027-03-01, 180 days is always 180
// midnights. Windows include their end: an event exactly at the end is inside.
type Period struct {
	Years, Months, Days int
	// Dur is the time part (hours, minutes, seconds).
	Dur time.Duration
}

// After returns t moved forward by p.
func (p Period) After(t time.Time) time.Time {
	return t.UTC().AddDate(p.Years, p.Months, p.Days).Add(p.Dur)
}

// IsZero reports whether p is empty.
func (p Period) IsZero() bool { return p == Period{} }

// Negative reports whether any part is negative.
func (p Period) Negative() bool { return p.Years < 0 || p.Months < 0 || p.Days < 0 || p.Dur < 0 }

// String returns p in ISO 8601 form.
func (p Period) String() string {
	if p.IsZero() {
		return "P0D"
	}
	var b strings.Builder
	b.WriteByte('P')
	for _, f := range []struct {
		n int
		u byte
	}{{p.Years, 'Y'}, {p.Months, 'M'}, {p.Days, 'D'}} {
		if f.n != 0 {
			b.WriteString(strconv.Itoa(f.n))
			b.WriteByte(f.u)
		}
	}
	if p.Dur != 0 {
		b.WriteByte('T')
		d := p.Dur
		for _, f := range []struct {
			unit time.Duration
			u    byte
		}{{time.Hour, 'H'}, {time.Minute, 'M'}, {time.Second, 'S'}} {
			if n := d / f.unit; n != 0 {
				b.WriteString(strconv.FormatInt(int64(n), 10))
				b.WriteByte(f.u)
				d -= n * f.unit
			}
		}
	}
	return b.String()
}

// ParsePeriod reads PnYnMnDTnHnMnS with whole numbers (every part optional, at least one).
func ParsePeriod(s string) (Period, error) {
	var p Period
	bad := fmt.Errorf("period %q: want an ISO 8601 duration such as P30D, P3Y or PT5M", s)
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" {
		return p, bad
	}
	date, clock, hasT := strings.Cut(rest, "T")
	if hasT && clock == "" {
		return p, bad
	}
	parts := 0
	parse := func(s, units string, set func(u byte, n int)) error {
		next := 0 // units must appear in order
		for s != "" {
			i := 0
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			if i == 0 || i == len(s) || i > 9 {
				return bad
			}
			n, _ := strconv.Atoi(s[:i])
			k := strings.IndexByte(units[next:], s[i])
			if k < 0 {
				return bad
			}
			next += k + 1
			set(s[i], n)
			parts++
			s = s[i+1:]
		}
		return nil
	}
	if err := parse(date, "YMD", func(u byte, n int) {
		switch u {
		case 'Y':
			p.Years = n
		case 'M':
			p.Months = n
		case 'D':
			p.Days = n
		}
	}); err != nil {
		return p, err
	}
	if err := parse(clock, "HMS", func(u byte, n int) {
		switch u {
		case 'H':
			p.Dur += time.Duration(n) * time.Hour
		case 'M':
			p.Dur += time.Duration(n) * time.Minute
		case 'S':
			p.Dur += time.Duration(n) * time.Second
		}
	}); err != nil {
		return p, err
	}
	if parts == 0 {
		return p, errors.New(bad.Error())
	}
	return p, nil
}

// MarshalJSON writes p as its ISO 8601 string.
func (p Period) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// UnmarshalJSON reads an ISO 8601 duration string.
func (p *Period) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("period: want a string such as \"P30D\": %w", err)
	}
	v, err := ParsePeriod(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}
