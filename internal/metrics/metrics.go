// Package metrics declares gpfed's Prometheus series in one registry so
// that every component records into the same names and /metrics exposes
// them. Labels carry codes and states, never patient data.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is the process-wide registry served at /metrics.
var Registry = prometheus.NewRegistry()

var (
	// SyncRunDuration observes whole sync runs, from creation to last outcome.
	SyncRunDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gpfed_sync_run_duration_seconds",
		Help:    "Duration of capacity sync runs from start to the last practice outcome.",
		Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600},
	})
	// SyncPractices counts per-practice outcomes by result and Spine code.
	SyncPractices = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gpfed_sync_practices_total",
		Help: "Practice fetch outcomes in capacity sync runs, by outcome (ok|failed|not_enabled|skipped) and Spine code.",
	}, []string{"outcome", "spine_code"})
	// SlotsFetched counts free slots stored by successful fetches.
	SlotsFetched = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gpfed_sync_slots_fetched_total",
		Help: "Free slots fetched and stored by successful practice fetches.",
	})
	// SnapshotSaveGroups observes each group of snapshots saved in one
	// transaction: how many practices it held and how long it took.
	SnapshotSaveGroups = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gpfed_sync_save_group_practices",
		Help:    "Practices whose snapshots were saved together in one transaction (groups form when saves queue up).",
		Buckets: []float64{1, 2, 4, 8, 12, 16},
	})
	SnapshotSaveSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gpfed_sync_save_group_duration_seconds",
		Help:    "Time to save one group of practices' snapshots (its transaction).",
		Buckets: prometheus.ExponentialBuckets(0.002, 2, 12),
	})
	// GPConnectCalls observes every HTTP attempt to a GP Connect provider.
	GPConnectCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gpfed_gpconnect_request_duration_seconds",
		Help:    "GP Connect HTTP call latency by interaction and HTTP status (0 = no response).",
		Buckets: []float64{.05, .1, .2, .3, .5, 1, 2, 3, 5, 10, 30},
	}, []string{"interaction", "status"})
	// GPConnectLimit is the adaptive limit on GP Connect calls in flight.
	GPConnectLimit = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gpfed_gpconnect_concurrency_limit",
		Help: "This process's current limit on GP Connect calls in flight (adapts to provider latency).",
	})
	// SDSCalls observes every HTTP attempt to the Spine Directory Service.
	SDSCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gpfed_sds_request_duration_seconds",
		Help:    "Spine Directory Service call latency by search (Endpoint|Device) and HTTP status (0 = no response).",
		Buckets: []float64{.02, .05, .1, .2, .5, 1, 2, 5, 10},
	}, []string{"search", "status"})
)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		SyncRunDuration, SyncPractices, SlotsFetched, SnapshotSaveGroups, SnapshotSaveSeconds, GPConnectCalls, SDSCalls,
		GPConnectLimit,
	)
}

// WatchBytesInFlight exposes a byte budget's use as gpfed_sync_bytes_in_flight (call once).
func WatchBytesInFlight(used func() float64) {
	Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gpfed_sync_bytes_in_flight",
		Help: "Provider response bytes this process holds between their arrival and the practice's save.",
	}, used))
}

// ObserveSDSCall records one SDS HTTP attempt (status 0 = no response).
func ObserveSDSCall(search string, status int, d time.Duration) {
	SDSCalls.WithLabelValues(search, strconv.Itoa(status)).Observe(d.Seconds())
}

// ObserveGPConnectCall records one GP Connect HTTP attempt (status 0 = no response).
func ObserveGPConnectCall(interaction string, status int, d time.Duration) {
	GPConnectCalls.WithLabelValues(interaction, strconv.Itoa(status)).Observe(d.Seconds())
}

// spineCodes are the Spine error codes GP Connect providers return (GP
// Connect error handling guidance) and gpfed's own failure codes: the
// values the spine_code label may take. A provider decides what it sends,
// so anything else is counted as "other" (an unbounded label would let one
// provider grow /metrics without limit); the run's record keeps the code.
var spineCodes = map[string]bool{
	"": true, "BAD_REQUEST": true, "INVALID_RESOURCE": true, "INVALID_PARAMETER": true, "INVALID_IDENTIFIER_SYSTEM": true,
	"INVALID_IDENTIFIER_VALUE": true, "INVALID_NHS_NUMBER": true, "ORGANISATION_NOT_FOUND": true, "PRACTITIONER_NOT_FOUND": true,
	"PATIENT_NOT_FOUND": true, "NO_RECORD_FOUND": true, "ACCESS_DENIED": true, "NO_ORGANISATION_CONSENT": true,
	"NO_PATIENT_CONSENT": true, "NOT_IMPLEMENTED": true, "INTERNAL_SERVER_ERROR": true, "DUPLICATE_REJECTED": true,
	"REFERENCE_NOT_FOUND": true, "SLOT_NOT_FREE": true, "FHIR_CONSTRAINT_VIOLATION": true, "BUSINESS_RULE_VIOLATION": true,
	"TIMEOUT": true, "NETWORK": true, "CANCELLED": true, "MALFORMED_RESPONSE": true, "RESPONSE_TOO_LARGE": true,
	"CLIENT_ERROR": true,
}

// SpineCodeLabel bounds a Spine code for use as a label value.
func SpineCodeLabel(code string) string {
	if spineCodes[code] {
		return code
	}
	return "other"
}
