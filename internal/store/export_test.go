package store

// GenericPlanStatements are the statements that run with their generic
// plans (stmt.generic), by name, for tests that look at those plans.
func GenericPlanStatements() map[string]string {
	return map[string]string{
		"claim":                  claimSQL,
		"claimed content":        claimedSQL,
		"tasks delivered":        taskFinalStmt(TaskDelivered, nil, 0, nil, nil).sql,
		"tasks failed":           taskFinalStmt(TaskFailed, nil, 0, nil, nil).sql,
		"tasks retried":          retryStmt("tasks", "accepted", nil, nil).sql,
		"notifications finished": notificationFinalStmt(nil, nil).sql,
		"notifications retried":  retryStmt("notifications", "pending", nil, nil).sql,
		"dropped queue rows":     dropStmt(nil, nil).sql,
	}
}
