// Package rules is the affiliate program as data, with no I/O: the attribution and
// referral windows, the revenue-share and milestone programs in force at a given time,
// the commission lines of an order and their exact integer arithmetic (basis points,
// explicit rounding). docs/commissions.md states the rules; deploy/rules.json is the
// default program.
package rules
