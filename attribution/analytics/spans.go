package analytics

import (
	"sort"
	"time"
)

// daySpans returns the days starting at the sorted Unix times ds, as merged spans.
func daySpans(ds []uint32) []anSpan {
	var out []anSpan
	for _, d := range ds {
		t := time.Unix(int64(d), 0).UTC()
		out = append(out, anSpan{t, t.AddDate(0, 0, 1)})
	}
	return mergeSpans(out)
}

// complementDays returns [from, to) without the sorted days bad, as spans.
func complementDays(from, to time.Time, bad []uint32) []anSpan {
	var out []anSpan
	cur := from
	for _, d := range bad {
		t := time.Unix(int64(d), 0).UTC()
		if t.After(cur) {
			out = append(out, anSpan{cur, t})
		}
		cur = t.AddDate(0, 0, 1)
	}
	if cur.Before(to) {
		out = append(out, anSpan{cur, to})
	}
	return out
}

// edgeSpans returns the parts of r outside its whole days.
func edgeSpans(r Range, dayFrom, dayTo time.Time) []anSpan {
	if !dayFrom.Before(dayTo) {
		return []anSpan{{r.From, r.To}}
	}
	var out []anSpan
	if r.From.Before(dayFrom) {
		out = append(out, anSpan{r.From, dayFrom})
	}
	if dayTo.Before(r.To) {
		out = append(out, anSpan{dayTo, r.To})
	}
	return out
}

// mergeSpans joins touching spans of a sorted list.
func mergeSpans(in []anSpan) []anSpan {
	var out []anSpan
	for _, s := range in {
		if n := len(out); n > 0 && out[n-1].To.Equal(s.From) {
			out[n-1].To = s.To
			continue
		}
		out = append(out, s)
	}
	return out
}

// hoursToSpans sorts Unix hour starts and merges neighbours into runs.
func HoursToSpans(hours []uint32) []anSpan {
	sort.Slice(hours, func(i, j int) bool { return hours[i] < hours[j] })
	var out []anSpan
	for _, h := range hours {
		t := time.Unix(int64(h), 0).UTC()
		if n := len(out); n > 0 && out[n-1].To.Equal(t) {
			out[n-1].To = t.Add(time.Hour)
			continue
		}
		out = append(out, anSpan{t, t.Add(time.Hour)})
	}
	return out
}
