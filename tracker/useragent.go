package tracker

import "bytes"

// browserOf gives a coarse, allocation-free label for analytics breakdowns (the device
// label is internal/visitor.Device). It is not used to judge traffic.

func browserOf(ua []byte) string {
	// Order matters: Edge, Opera, Yandex and Samsung also say "Chrome"; Chrome also
	// says "Safari".
	switch {
	case len(ua) == 0:
		return "unknown"
	case bytes.Contains(ua, []byte("Edg/")) || bytes.Contains(ua, []byte("EdgA/")) || bytes.Contains(ua, []byte("EdgiOS/")):
		return "edge"
	case bytes.Contains(ua, []byte("OPR/")) || bytes.Contains(ua, []byte("Opera")):
		return "opera"
	case bytes.Contains(ua, []byte("YaBrowser/")):
		return "yandex"
	case bytes.Contains(ua, []byte("SamsungBrowser/")):
		return "samsung"
	case bytes.Contains(ua, []byte("Firefox/")) || bytes.Contains(ua, []byte("FxiOS/")):
		return "firefox"
	case bytes.Contains(ua, []byte("Chrome/")) || bytes.Contains(ua, []byte("CriOS/")) || bytes.Contains(ua, []byte("Chromium/")):
		return "chrome"
	case bytes.Contains(ua, []byte("Safari/")):
		return "safari"
	default:
		return "other"
	}
}
