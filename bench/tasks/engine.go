package main

import (
	"fmt"
	"net/http"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// engineStats are the worker's claim-loop counters at one moment.
type engineStats struct {
	claims, claimed                      float64
	claimSeconds, recordSeconds, records float64
}

// engine scrapes the gpfed worker's /metrics (zero values when unreachable).
func (e *env) engine() engineStats {
	var s engineStats
	if e.workerMetrics == "" {
		return s
	}
	resp, err := http.Get("http://" + e.workerMetrics + "/metrics")
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return s
	}
	value := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.Metric) == 0 {
			return 0
		}
		m := f.Metric[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return m.Histogram.GetSampleSum()
		}
		return 0
	}
	count := func(name string) float64 {
		if f := fams[name]; f != nil && len(f.Metric) > 0 && f.Metric[0].Histogram != nil {
			return float64(f.Metric[0].Histogram.GetSampleCount())
		}
		return 0
	}
	s.claims, s.claimed = value("gpfed_delivery_claims_total"), value("gpfed_delivery_claimed_total")
	s.claimSeconds = value("gpfed_delivery_claim_duration_seconds")
	s.recordSeconds, s.records = value("gpfed_delivery_record_duration_seconds"), count("gpfed_delivery_record_duration_seconds")
	return s
}

// reportEngine prints what the claim loop did between two scrapes.
func reportEngine(before, after engineStats, tasks int) {
	claims := after.claims - before.claims
	if claims == 0 {
		return
	}
	records := after.records - before.records
	fmt.Printf("    delivery engine: %.2f claims per task, %.1f deliveries per claim, %.2f ms per claim; %.1f outcomes per record, %.2f ms per record\n",
		claims/float64(tasks), (after.claimed-before.claimed)/claims, 1000*(after.claimSeconds-before.claimSeconds)/claims,
		(after.claimed-before.claimed)/max(records, 1), 1000*(after.recordSeconds-before.recordSeconds)/max(records, 1))
}
