package tracker

import "bytes"

// deviceOf and browserOf give coarse, allocation-free labels for analytics breakdowns.
// They are not used to judge traffic; the classifier has its own signals.

func deviceOf(ua []byte) string {
	switch {
	case len(ua) == 0:
		return "unknown"
	case bytes.Contains(ua, []byte("iPad")) || bytes.Contains(ua, []byte("Tablet")) ||
		(bytes.Contains(ua, []byte("Android")) && !bytes.Contains(ua, []byte("Mobile"))):
		return "tablet"
	case bytes.Contains(ua, []byte("Mobi")) || bytes.Contains(ua, []byte("iPhone")) || bytes.Contains(ua, []byte("Android")):
		return "mobile"
	default:
		return "desktop"
	}
}

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
