package ledger

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Ledger and consumer metrics. Labels are low-cardinality: consumer names, event types,
// outcome and reason codes; never an id.
var (
	consumerMessages = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_ledger_consumer_messages_committed_total", Help: "Messages whose offsets a consumer committed.",
	}, []string{"consumer"})
	consumerBatchSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "refedge_ledger_consumer_batch_seconds", Help: "Duration of one batch handler call.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"consumer"})
	consumerBatchErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_ledger_consumer_batch_errors_total", Help: "Failed batch handler calls (each batch is retried).",
	}, []string{"consumer"})
	consumerCommitSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "refedge_ledger_consumer_commit_seconds", Help: "Duration of one offset commit.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"consumer"})
	consumerCommitErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_ledger_consumer_commit_errors_total", Help: "Failed offset commits (the batch is delivered again).",
	}, []string{"consumer"})
	consumerLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "refedge_ledger_consumer_lag", Help: "Messages behind the end of the partitions a consumer reads, as kafka-go last saw it.",
	}, []string{"consumer"})

	ledgerEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_ledger_events_total", Help: "Input events the ledger handled, by type.",
	}, []string{"type"})
	ledgerDeadLetters = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_ledger_dead_letters_total", Help: "Input events sent to the dead-letter topic, by reason.",
	}, []string{"topic", "reason"})
	ledgerSignups = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_ledger_signups_total", Help: "Signups by attribution outcome: attributed or the refusal reason.",
	}, []string{"outcome"})
	ledgerLines = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_ledger_lines_total", Help: "Commission lines decided, by role and outcome (pay, wait, park, drop reason, dup).",
	}, []string{"role", "outcome"})
	ledgerOutputs = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_ledger_events_produced_total", Help: "Output events produced, by type.",
	}, []string{"type"})
	ledgerRetries = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_ledger_reread_total", Help: "Events re-read because a registration landed while they were handled.",
	})
	ledgerRecovered = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_ledger_events_recovered_total", Help: "Events an attempt that crashed had produced; found on the topic and not produced again.",
	})
	ledgerMirrored = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_ledger_conversions_mirrored_total", Help: "Output events written to ClickHouse conversions.",
	})
	ledgerSwept = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_ledger_swept_total", Help: "Referrals the sweeper examined, by resulting state.",
	}, []string{"state"})
)
