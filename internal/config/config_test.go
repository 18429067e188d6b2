package config

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{}))
	if err != nil {
		t.Fatalf("defaults should load: %v", err)
	}
	if cfg.Sync.Days != 28 || cfg.Sync.Schedule != "0 2 * * *" || cfg.Sync.TimeZone != "Europe/London" {
		t.Errorf("unexpected sync defaults: %+v", cfg.Sync)
	}
	if cfg.Tasks.HistoryRetention != 2160*time.Hour {
		t.Errorf("GPFED_HISTORY_RETENTION default = %s, want 2160h (90 days)", cfg.Tasks.HistoryRetention)
	}
	if cfg.Tasks.Retention != 720*time.Hour {
		t.Errorf("GPFED_TASK_RETENTION default = %s, want 720h (30 days)", cfg.Tasks.Retention)
	}
	// Issue 10: the safe choice is the default; development settings are explicit.
	sec := cfg.Security
	if !cfg.Server.SecureCookies || sec.WebhookAllowHTTP || sec.WebhookAllowNets != "" || sec.RateLimitPerMinute != 300 ||
		sec.AuditRetention != 6*8768*time.Hour || sec.SessionIdleTimeout != 30*time.Minute {
		t.Errorf("security defaults: cookies Secure %t, %+v", cfg.Server.SecureCookies, sec)
	}
	if p, err := sec.WebhookPolicy(); err != nil || p.AllowHTTP || len(p.AllowNets) != 0 {
		t.Errorf("default webhook policy %+v, %v: want https and public addresses only", p, err)
	}
}

func TestLoadNamesBadVariable(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"bad asid":           {map[string]string{"GPFED_CONSUMER_ASID": "12ab"}, "GPFED_CONSUMER_ASID"},
		"bad ods":            {map[string]string{"GPFED_CONSUMER_ODS": "a!"}, "GPFED_CONSUMER_ODS"},
		"empty person":       {map[string]string{"GPFED_PRACTITIONER_FAMILY_NAME": " "}, "GPFED_PRACTITIONER_FAMILY_NAME"},
		"cert no key":        {map[string]string{"GPFED_TLS_CERT_FILE": "/x.pem"}, "GPFED_TLS_KEY_FILE"},
		"bad days":           {map[string]string{"GPFED_SYNC_DAYS": "0"}, "GPFED_SYNC_DAYS"},
		"sds without key":    {map[string]string{"GPFED_SDS_URL": "https://int.api.service.nhs.uk/spine-directory/FHIR/R4"}, "GPFED_SDS_API_KEY"},
		"sds not a url":      {map[string]string{"GPFED_SDS_URL": "int.api.service.nhs.uk", "GPFED_SDS_API_KEY": "k"}, "GPFED_SDS_URL"},
		"sds negative rate":  {map[string]string{"GPFED_SDS_RATE_LIMIT": "-1"}, "GPFED_SDS_RATE_LIMIT"},
		"malformed int":      {map[string]string{"GPFED_SYNC_DAYS": "many"}, "GPFED_SYNC_DAYS"},
		"bad redis":          {map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL"},
		"ssp no slash":       {map[string]string{"GPFED_SSP_URL": "https://ssp.example"}, "GPFED_SSP_URL"},
		"bad tz":             {map[string]string{"GPFED_SYNC_TIMEZONE": "Mars/Olympus"}, "GPFED_SYNC_TIMEZONE"},
		"bad log level":      {map[string]string{"GPFED_LOG_LEVEL": "loud"}, "GPFED_LOG_LEVEL"},
		"negative retention": {map[string]string{"GPFED_TASK_RETENTION": "-1h"}, "GPFED_TASK_RETENTION"},
		"negative history":   {map[string]string{"GPFED_HISTORY_RETENTION": "-1h"}, "GPFED_HISTORY_RETENTION"},
		"short secret key":   {map[string]string{"GPFED_SECRET_KEY": "c2hvcnQ="}, "GPFED_SECRET_KEY"},
		"bad previous key":   {map[string]string{"GPFED_SECRET_KEY_PREVIOUS": "not a key"}, "GPFED_SECRET_KEY"},
		"bad allow-list":     {map[string]string{"GPFED_WEBHOOK_ALLOW_NETS": "10.0.0.0/33"}, "GPFED_WEBHOOK_ALLOW_NETS"},
		"negative audit":     {map[string]string{"GPFED_AUDIT_RETENTION": "-1h"}, "GPFED_AUDIT_RETENTION"},
		"negative limit":     {map[string]string{"GPFED_RATE_LIMIT_PER_MINUTE": "-1"}, "GPFED_RATE_LIMIT_PER_MINUTE"},
		"tiny idle timeout":  {map[string]string{"GPFED_SESSION_IDLE_TIMEOUT": "1s"}, "GPFED_SESSION_IDLE_TIMEOUT"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(context.Background(), envconfig.MapLookuper(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error naming %s, got %v", tc.want, err)
			}
		})
	}
}
