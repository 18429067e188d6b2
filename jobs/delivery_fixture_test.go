package jobs_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/gpfed/gpfed/internal/logging"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testredis"
	"github.com/gpfed/gpfed/queue"
)

type deliveryFixture struct {
	db     *store.DB
	opt    asynq.RedisConnOpt
	client *asynq.Client
	insp   *asynq.Inspector
	redis  *redis.Client // the leased DB only
	relay  *queue.Relay
}

func newDeliveryFixture(t *testing.T) *deliveryFixture {
	t.Helper()
	db, _ := testdb.New(t)
	n, url := testredis.DB(t)
	opt, err := queue.RedisOpt(url)
	if err != nil {
		t.Fatal(err)
	}
	f := &deliveryFixture{db: db, opt: opt, client: asynq.NewClient(opt), insp: asynq.NewInspector(opt),
		redis: redis.NewClient(&redis.Options{Addr: testredis.Addr(), DB: n})}
	t.Cleanup(func() { f.client.Close(); f.insp.Close(); f.redis.Close() })
	f.relay = &queue.Relay{DB: db, Client: f.client, Log: logging.Discard()}
	low := 100
	ps := []practice.Practice{
		{ODSCode: "A20047", Name: "A", ASID: "918999198993", Endpoint: "https://p.example/a", Active: true, LowCapacityThresholdMinutes: &low},
		{ODSCode: "B82001", Name: "B", ASID: "918999198994", Endpoint: "https://p.example/b", Active: true, LowCapacityThresholdMinutes: &low},
		{ODSCode: "C81002", Name: "C", ASID: "918999198995", Endpoint: "https://p.example/c", Active: true},
	}
	if _, err := db.ImportPractices(context.Background(), ps, false); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *deliveryFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.db.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// task inserts an A -> B task with its outbox row; extra is SQL assignments
// applied afterwards (e.g. "state = 'delivered', due_date = current_date - 1").
func (f *deliveryFixture) task(t *testing.T, expiresIn string, extra string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	f.exec(t, `WITH t AS (INSERT INTO tasks (id, sender_ods, recipient_ods, patient_nhs_number, type, priority, subject, body, expires_at)
		VALUES ($1, 'A20047', 'B82001', '9434765919', 'information', 'routine', 's', 'b', now() + $2::interval))
		INSERT INTO outbox (kind, ref_id) VALUES ('task', $1)`, id, expiresIn)
	if extra != "" {
		f.exec(t, `UPDATE tasks SET `+extra+` WHERE id = $1`, id)
	}
	return id
}

func (f *deliveryFixture) notification(t *testing.T, kind, key string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	err := f.db.InTx(context.Background(), func(tx pgx.Tx) error {
		_, err := store.CreateNotificationTx(context.Background(), tx, store.Notification{ID: id, RecipientODS: "B82001",
			Kind: kind, SubjectODS: "B82001", CoalesceKey: key})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *deliveryFixture) relayAll(t *testing.T) {
	t.Helper()
	for {
		n, err := f.relay.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func (f *deliveryFixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}
