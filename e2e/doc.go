// Package e2e runs gpfed the way an operator does: the real binary as child
// processes (serve, worker, scheduler), a simulated federation with webhook
// receivers, and throwaway Redis and PostgreSQL servers that tests may
// flush, kill and restart without touching anyone else's. The tests in this
// package are the crash, log-safety and end-to-end proofs for task
// delivery; the helpers (non-test files) are shared with bench/tasks.
package e2e
