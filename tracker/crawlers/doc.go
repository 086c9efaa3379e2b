// Package crawlers tells crawlers, bots and link-preview fetchers from browsers by their
// User-Agent, so that the tracker never counts them as referral clicks (program rule 6:
// bots and other low-quality traffic do not count; they are recorded with a reason).
//
// The flow: New reads the embedded list of the npm package crawler-user-agents (MIT,
// data/, refreshed by deploy/scripts/refresh-crawlers.sh), translates its JavaScript
// regexps for RE2 (skipping and counting what RE2 cannot express) and narrows the few
// patterns that also match real browsers (listOverrides). It adds the built-in agents
// (extra.go: link-preview fetchers, headless browsers, HTTP libraries, monitors) that
// the list does not already cover, the heuristics (heuristics.go: automation words,
// contact details, User-Agents without any browser engine token) and the general rules
// (rules.go: monitors, transcoders, lower-cased User-Agents, names in the engine
// comment, automation frameworks, payloads, tool tokens), each with its own reason code
// (Verdict). The in-app browser rule (inapp.go) keeps the generic heuristic words from
// refusing the browsers of social and messenger apps, which are people. From every pattern
// it extracts the literals a match must contain and compiles them into one
// Aho–Corasick automaton over ASCII-lowercased bytes. Match runs that automaton once
// over the User-Agent; a literal occurrence is confirmed by a case-sensitive byte
// comparison, or by the pattern's regexp for the few patterns that are not plain
// literals, and occurrences inside an Android device-model slot ("HTC Butterfly
// Build/...") are ignored. A bounded, sharded cache of verdicts keyed by seeded hashes
// sits in front, so a User-Agent seen before costs two hashes and a lock. Match does
// not allocate.
//
// The list and the heuristics are measured by TestCorpora against corpora that are
// independent of the list (testdata/SOURCES.md): CrawlerDetect's crawler fixture for
// recall, and real-traffic browser User-Agents for false positives; TestBotCorpora
// measures bot corpora split into a tuning and a held-out part, and in-app browsers.
package crawlers
