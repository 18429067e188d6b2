package worker

import "github.com/hibiken/asynq"

// CapacityDeps is what the capacity fetch handler needs.
type CapacityDeps struct{}

func registerCapacity(mux *asynq.ServeMux, d Deps) {}
