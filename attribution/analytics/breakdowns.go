package analytics

import (
	"sort"

	"github.com/refedge/refedge/attribution/event"
)

// buildBreakdowns orders click dimensions, adds impressions to creatives, widgets and
// banners, and adds the verdict and size breakdowns.
func BuildBreakdowns(dims map[string][]BreakdownRow, imps impressionsByKey, byVerdict map[string]uint64, top int) map[string][]BreakdownRow {
	out := map[string][]BreakdownRow{}
	impBy := func(match func(k [3]string) bool, key func(k [3]string) string) map[string]uint64 {
		m := map[string]uint64{}
		for k, n := range imps {
			if match(k) {
				m[key(k)] += n
			}
		}
		return m
	}
	all := func([3]string) bool { return true }
	creative := func(k [3]string) string { return k[1] }
	impByDim := map[string]map[string]uint64{
		"source":   impBy(all, func(k [3]string) string { return k[0] }),
		"creative": impBy(all, creative),
		"widget":   impBy(func(k [3]string) bool { return k[0] == event.SourceWidget }, creative),
		"banner":   impBy(func(k [3]string) bool { return k[0] == event.SourceBanner }, creative),
	}
	for _, d := range ClickDims {
		rows := dims[d]
		if rows == nil {
			rows = []BreakdownRow{}
		}
		if m := impByDim[d]; m != nil {
			seen := map[string]bool{}
			for i := range rows {
				rows[i].Impressions = m[rows[i].Key]
				seen[rows[i].Key] = true
			}
			// Values with impressions and no click yet still belong in the table.
			var extra []BreakdownRow
			for k, n := range m {
				if !seen[k] {
					extra = append(extra, BreakdownRow{Key: k, Impressions: n})
				}
			}
			sort.Slice(extra, func(i, j int) bool {
				if extra[i].Impressions != extra[j].Impressions {
					return extra[i].Impressions > extra[j].Impressions
				}
				return extra[i].Key < extra[j].Key
			})
			for _, e := range extra {
				if len(rows) >= top {
					break
				}
				rows = append(rows, e)
			}
		}
		out[d] = rows
	}
	verdicts := []BreakdownRow{}
	for v, n := range byVerdict {
		if n == 0 {
			continue
		}
		row := BreakdownRow{Key: v, Text: VerdictText(v), Clicks: n}
		if v == "valid" {
			row.Valid = n
		} else {
			row.Flagged = n
		}
		verdicts = append(verdicts, row)
	}
	sortRows(verdicts)
	out["verdict"] = verdicts
	sizes := []BreakdownRow{}
	for k, n := range impBy(func(k [3]string) bool { return k[2] != "" }, func(k [3]string) string { return k[2] }) {
		sizes = append(sizes, BreakdownRow{Key: k, Impressions: n})
	}
	sort.Slice(sizes, func(i, j int) bool {
		if sizes[i].Impressions != sizes[j].Impressions {
			return sizes[i].Impressions > sizes[j].Impressions
		}
		return sizes[i].Key < sizes[j].Key
	})
	if len(sizes) > top {
		sizes = sizes[:top]
	}
	out["size"] = sizes
	return out
}

func sortRows(rows []BreakdownRow) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Clicks != rows[j].Clicks {
			return rows[i].Clicks > rows[j].Clicks
		}
		return rows[i].Key < rows[j].Key
	})
}
