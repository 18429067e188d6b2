package metrics

import "github.com/prometheus/client_golang/prometheus"

// Task delivery series. The delivery worker observes them once per task
// that reaches a final delivery outcome:
//
//	metrics.TaskDeliveryDuration.WithLabelValues("webhook", "delivered").Observe(time.Since(task.CreatedAt).Seconds())
//	metrics.TaskDeliveryAttempts.WithLabelValues("webhook", "delivered").Observe(float64(task.Attempts))
//
// channel is webhook | inbox; outcome is delivered | failed.
var (
	// TaskDeliveryDuration observes acceptance-to-outcome latency.
	TaskDeliveryDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gpfed_task_delivery_duration_seconds",
		Help:    "Time from task acceptance to its final delivery outcome, by channel (webhook|inbox) and outcome (delivered|failed).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400},
	}, []string{"channel", "outcome"})
	// TaskDeliveryAttempts observes how many attempts a final outcome took.
	TaskDeliveryAttempts = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gpfed_task_delivery_attempts",
		Help:    "Delivery attempts a task needed to reach its final outcome, by channel and outcome.",
		Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30},
	}, []string{"channel", "outcome"})
	// WebhookRequests observes each webhook POST attempt (tasks and
	// notifications) by event (task|notification) and HTTP status (0 = no response).
	WebhookRequests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gpfed_webhook_request_duration_seconds",
		Help:    "Webhook POST latency by event (task|notification) and HTTP status (0 = no response).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"event", "status"})
)

func init() {
	Registry.MustRegister(TaskDeliveryDuration, TaskDeliveryAttempts, WebhookRequests)
}

// Delivery engine series (worker processes).
var (
	// DeliveryOutcomes counts attempts by kind (task|notification) and
	// result (delivered|retry|failed|released|dropped).
	DeliveryOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gpfed_delivery_outcomes_total",
		Help: "Delivery attempts by kind (task|notification) and result (delivered|retry|failed|released|dropped).",
	}, []string{"kind", "result"})
	// EndpointTransitions counts circuit breaker changes by change
	// (opened|probe_failed|recovered).
	EndpointTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gpfed_endpoint_circuit_transitions_total",
		Help: "Recipient endpoint circuit breaker changes (opened|probe_failed|recovered).",
	}, []string{"change"})
)

func init() {
	Registry.MustRegister(DeliveryOutcomes, EndpointTransitions)
}

// Claim loop series (worker processes): how often the engine claims, how
// much each claim takes and how long it holds the claim lock.
var (
	DeliveryClaims = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gpfed_delivery_claims_total",
		Help: "Claims the delivery engine made (each one statement under the claim lock).",
	})
	DeliveryClaimed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gpfed_delivery_claimed_total",
		Help: "Deliveries claimed (tasks and notifications).",
	})
	DeliveryClaimSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gpfed_delivery_claim_duration_seconds",
		Help:    "Time one claim took, lock wait included.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
	})
	DeliveryRecordSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gpfed_delivery_record_duration_seconds",
		Help:    "Time one batch of outcomes took to record.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
	})
)

func init() {
	Registry.MustRegister(DeliveryClaims, DeliveryClaimed, DeliveryClaimSeconds, DeliveryRecordSeconds)
}
