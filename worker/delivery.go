package worker

import "github.com/hibiken/asynq"

// DeliveryDeps is what the task and notification delivery handlers need.
// Placeholder until delivery lands (issue 3).
type DeliveryDeps struct{}

func registerDelivery(mux *asynq.ServeMux, d Deps) {}
