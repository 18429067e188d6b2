package jobs

import "context"

// inBatches runs step, one batch of at most batch rows per call, until a
// call handles fewer than batch rows, fails, or ctx ends, and returns the
// rows handled in all.
func inBatches(ctx context.Context, batch int, step func() (int, error)) (int, error) {
	total := 0
	for {
		n, err := step()
		total += n
		if err != nil || n < batch || ctx.Err() != nil {
			return total, err
		}
	}
}
