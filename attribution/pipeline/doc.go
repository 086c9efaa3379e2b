// Package pipeline hands events from the request path to their sinks without making the
// visitor wait. A Pipeline batches events by count and age and gives each batch to every
// sink on the sink's own goroutine, so a slow sink never stalls the others; a sink that
// keeps failing has its batches spooled (package spool) and replayed in order. Stop
// flushes or spools everything queued, so a clean shutdown loses nothing.
package pipeline
