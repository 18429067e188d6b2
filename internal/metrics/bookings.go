package metrics

import "github.com/prometheus/client_golang/prometheus"

// BookingOutcomes counts what booking requests, settles and cancels ended
// in. step is book | settle | cancel; outcome is booked | unconfirmed |
// refused | taken (book), booked | failed | cancelled (settle), cancelled |
// failed (cancel); spine_code is the practice's code where it decided
// ("" otherwise). No patient data, no ids.
var BookingOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "gpfed_booking_outcomes_total",
	Help: "Booking requests, settles and cancels by step (book|settle|cancel), outcome and the practice's Spine code.",
}, []string{"step", "outcome", "spine_code"})

func init() { Registry.MustRegister(BookingOutcomes) }

// ObserveBooking counts one booking outcome.
func ObserveBooking(step, outcome, spineCode string) {
	BookingOutcomes.WithLabelValues(step, outcome, spineCode).Inc()
}
