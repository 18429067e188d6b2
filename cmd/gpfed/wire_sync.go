package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/metrics"
)

// version is stamped at build time (-ldflags "-X main.version=...").
var version = "dev"

// newGPConnectClient builds the provider client from configuration,
// including TLS mutual auth for the Spine Secure Proxy when configured.
func newGPConnectClient(app *App) (*gpconnect.Client, error) {
	c := app.Cfg.Consumer
	g := app.Cfg.GPConnect
	hc, err := gpcHTTPClient(g.TLSCertFile, g.TLSKeyFile, g.TLSCAFile, g.MaxConcurrent)
	if err != nil {
		return nil, err
	}
	directory, err := app.sdsClient()
	if err != nil {
		return nil, err
	}
	return gpconnect.New(gpconnect.Config{
		Resolve: directory.Resolver(),
		Consumer: gpconnect.Consumer{
			ODS: c.ODS, ASID: c.ASID, Name: c.Name, EndpointURL: c.EndpointURL,
			Practitioner: gpconnect.Practitioner{ID: c.PractitionerID, SDSUserID: c.PractitionerSDSUser,
				SDSRoleProfileID: c.PractitionerSDSRole, FamilyName: c.PractitionerFamily, GivenName: c.PractitionerGiven},
			ProductName: "gpfed", ProductVersion: version,
		},
		SSPPrefix:        g.SSPURL,
		HTTPClient:       hc,
		RequestTimeout:   g.RequestTimeout,
		MaxResponseBytes: g.MaxResponseBytes,
		MaxAttempts:      g.MaxAttempts,
		MaxPerPractice:   g.MaxPerPractice,
		MaxGlobal:        g.MaxConcurrent,
		MinGlobal:        g.MinConcurrent,
		OnLimit: func(n int) {
			metrics.GPConnectLimit.Set(float64(n))
			for peak := peakGPCLimit.Load(); int64(n) > peak && !peakGPCLimit.CompareAndSwap(peak, int64(n)); peak = peakGPCLimit.Load() {
			}
		},
		OrgType:  g.OrgType,
		Logger:   app.Log,
		Observer: func(ci gpconnect.CallInfo) { metrics.ObserveGPConnectCall(ci.Interaction, ci.Status, ci.Duration) },
	})
}

func gpcHTTPClient(certFile, keyFile, caFile string, maxConns int) (*http.Client, error) {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          maxConns * 2,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("GPFED_TLS_CERT_FILE/GPFED_TLS_KEY_FILE: %w", err)
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("GPFED_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("GPFED_TLS_CA_FILE: no PEM certificates in %s", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, nil
}
