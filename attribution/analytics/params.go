package analytics

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/refedge/refedge/internal/i18n"
)

// Interval is the bucket size of a time series. Buckets are UTC.
type Interval uint8

// Intervals, as spelled in ?interval=.
const (
	AnalyticsHour Interval = iota + 1
	AnalyticsDay
	AnalyticsMonth
)

// String returns the interval's query spelling.
func (i Interval) String() string {
	switch i {
	case AnalyticsHour:
		return "hour"
	case AnalyticsDay:
		return "day"
	case AnalyticsMonth:
		return "month"
	}
	return ""
}

// Floor returns the start of t's bucket.
func (i Interval) Floor(t time.Time) time.Time {
	t = t.UTC()
	switch i {
	case AnalyticsMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case AnalyticsDay:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(time.Hour)
}

// Next returns the start of the bucket after the one starting at t.
func (i Interval) Next(t time.Time) time.Time {
	switch i {
	case AnalyticsMonth:
		return t.AddDate(0, 1, 0)
	case AnalyticsDay:
		return t.AddDate(0, 0, 1)
	}
	return t.Add(time.Hour)
}

// sqlBucket returns a ClickHouse expression giving the Unix second (UInt64) at which the
// bucket of DateTime column col starts, in UTC whatever the server's time zone. The text
// comes from this fixed set, never from a request.
func (i Interval) sqlBucket(col string) string {
	switch i {
	case AnalyticsMonth:
		return "toUInt64(toUInt32(toStartOfMonth(" + col + ", 'UTC')) * 86400)"
	case AnalyticsDay:
		return "toUInt64(intDiv(toUInt32(" + col + "), 86400) * 86400)"
	}
	return "toUInt64(intDiv(toUInt32(" + col + "), 3600) * 3600)"
}

// Range is a validated, hour-aligned [From, To) with its bucket size.
type Range struct {
	From, To time.Time
	Interval Interval
}

// Buckets returns the start of every bucket that overlaps the range, in order. The first
// may start before From and the last end after To: they hold only the range's part.
func (r Range) Buckets() []time.Time {
	var out []time.Time
	for b := r.Interval.Floor(r.From); b.Before(r.To); b = r.Interval.Next(b) {
		out = append(out, b)
	}
	return out
}

// Hours returns the number of hours the range spans.
func (r Range) Hours() int { return int(r.To.Sub(r.From) / time.Hour) }

// ParamError is a bad query parameter; the API answers 400 with its text. The period's
// errors also carry a catalogue key and its named arguments (internal/i18n, "param.*"),
// so a page can give the same reason in its reader's language.
type ParamError struct {
	param, msg string
	key        string
	args       []any
}

func (e *ParamError) Error() string { return e.param + ": " + e.msg }

// Localize returns the error's text in catalogue c, or its English text when it has no
// catalogue entry.
func (e *ParamError) Localize(c *i18n.Catalogue) string {
	if e.key == "" || !c.Has(e.key) {
		return e.Error()
	}
	return e.param + ": " + c.T(e.key, e.args...)
}

func ParamErr(param, format string, args ...any) error {
	return &ParamError{param: param, msg: fmt.Sprintf(format, args...)}
}

// paramErrT is a ParamError whose text is catalogue entry key with its named arguments;
// the API's text is the English entry.
func paramErrT(param, key string, args ...any) error {
	return &ParamError{param: param, msg: i18n.For("en").T(key, args...), key: key, args: args}
}

// LocalizeErr is err's text in catalogue c: a ParamError's own words in c's language,
// any other error's text as it is.
func LocalizeErr(err error, c *i18n.Catalogue) string {
	var pe *ParamError
	if errors.As(err, &pe) {
		return pe.Localize(c)
	}
	return err.Error()
}

// Bounds on accepted times: analytics data starts after 2000 and a request never needs
// a date past 2100 (also keeps time arithmetic far from overflow).
var (
	MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Default spans when the request names neither from nor range.
const (
	analyticsDefaultSpan       = 30 * 24 * time.Hour
	analyticsDefaultHourlySpan = 48 * time.Hour
)

// ParseRange reads from, to, interval and range (get returns "" for a missing
// parameter) and bounds them by cfg. Times are RFC 3339 or YYYY-MM-DD (UTC midnight); to
// is exclusive; range is a span ending at to, "48h" or "30d". The result is aligned
// outwards to whole hours.
func ParseRange(get func(string) string, now time.Time, cfg *Config) (Range, error) {
	var r Range
	switch v := get("interval"); v {
	case "":
	case "hour":
		r.Interval = AnalyticsHour
	case "day":
		r.Interval = AnalyticsDay
	case "month":
		r.Interval = AnalyticsMonth
	default:
		return r, paramErrT("interval", "param.interval")
	}
	span, spanHours, err := ParseSpan(get("range"))
	if err != nil {
		return r, err
	}
	fromS, toS := get("from"), get("to")
	if fromS != "" && span > 0 {
		return r, paramErrT("range", "param.from_or_range")
	}
	now = now.UTC()
	if toS != "" {
		if r.To, err = ParseTime("to", toS); err != nil {
			return r, err
		}
	} else if r.Interval == AnalyticsHour || spanHours {
		// Hourly views end with the current hour; the others with today.
		r.To = now.Truncate(time.Hour).Add(time.Hour)
	} else {
		r.To = AnalyticsDay.Floor(now).AddDate(0, 0, 1)
	}
	switch {
	case fromS != "":
		if r.From, err = ParseTime("from", fromS); err != nil {
			return r, err
		}
	case span > 0:
		r.From = r.To.Add(-span)
	case r.Interval == AnalyticsHour:
		r.From = r.To.Add(-analyticsDefaultHourlySpan)
	default:
		r.From = r.To.Add(-analyticsDefaultSpan)
	}
	r.From = r.From.Truncate(time.Hour)
	if t := r.To.Truncate(time.Hour); !t.Equal(r.To) {
		r.To = t.Add(time.Hour)
	}
	if !r.From.Before(r.To) {
		return r, paramErrT("to", "param.to_after_from")
	}
	if r.From.Before(MinTime) || r.To.After(MaxTime) {
		return r, paramErrT("from", "param.years")
	}
	d := r.To.Sub(r.From)
	if d > cfg.MaxRange {
		return r, paramErrT("to", "param.max_days", "days", int(cfg.MaxRange/(24*time.Hour)))
	}
	if r.Interval == 0 {
		switch {
		case d <= 3*24*time.Hour:
			r.Interval = AnalyticsHour
		case d <= 120*24*time.Hour:
			r.Interval = AnalyticsDay
		default:
			r.Interval = AnalyticsMonth
		}
	}
	if r.Interval == AnalyticsHour && d > cfg.MaxHourlyRange {
		return r, paramErrT("interval", "param.hourly_days", "days", int(cfg.MaxHourlyRange/(24*time.Hour)))
	}
	return r, nil
}

// parseSpan reads "48h" or "30d" (1..99999 units).
func ParseSpan(s string) (d time.Duration, hours bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	if len(s) < 2 || len(s) > 6 {
		return 0, false, paramErrT("range", "param.span")
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 1 || strings.ContainsAny(s[:len(s)-1], "+-") {
		return 0, false, paramErrT("range", "param.span")
	}
	switch s[len(s)-1] {
	case 'h':
		return time.Duration(n) * time.Hour, true, nil
	case 'd':
		return time.Duration(n) * 24 * time.Hour, false, nil
	}
	return 0, false, paramErrT("range", "param.span")
}

// ParseTime reads an RFC 3339 time or a YYYY-MM-DD date (UTC midnight).
func ParseTime(param, s string) (time.Time, error) {
	if len(s) > 40 {
		return time.Time{}, paramErrT(param, "param.too_long")
	}
	if len(s) == len("2006-01-02") {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return t, paramErrT(param, "param.time")
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, paramErrT(param, "param.time")
	}
	if t.Year() < 1900 || t.Year() > 2200 {
		return t, paramErrT(param, "param.years")
	}
	return t.UTC(), nil
}

// parseIntParam reads an optional integer parameter in [lo, hi].
func ParseIntParam(get func(string) string, name string, def, lo, hi int) (int, error) {
	v := get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi || len(v) > 10 {
		return 0, ParamErr(name, "want a whole number from %d to %d", lo, hi)
	}
	return n, nil
}
