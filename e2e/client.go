package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"
)

// NewTask is the body of POST /v1/tasks.
type NewTask struct {
	RecipientODS     string `json:"recipient_ods"`
	PatientNHSNumber string `json:"patient_nhs_number"`
	Type             string `json:"type"`
	Priority         string `json:"priority"`
	Subject          string `json:"subject"`
	Body             string `json:"body"`
	DueDate          string `json:"due_date,omitempty"`
}

// Response is what the API answered.
type Response struct {
	Status      int
	ContentType string // media type only
	Body        []byte
	ID          string // the task id, for task answers
	State       string
}

// Problem reports whether the answer is an RFC 9457 problem document.
func (r Response) Problem() bool { return r.ContentType == "application/problem+json" }

// Client talks to gpfed's practice API.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// NewClient returns a client with a generous pool for concurrent posters.
func NewClient(baseURL string) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	return &Client{BaseURL: baseURL, HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// PostTask sends POST /v1/tasks with key's bearer and an Idempotency-Key.
func (c *Client) PostTask(ctx context.Context, apiKey, idemKey string, t NewTask) (Response, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return Response{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v1/tasks", bytes.NewReader(b))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	return c.do(req, apiKey)
}

// Do sends method path with an optional JSON body.
func (c *Client) Do(ctx context.Context, apiKey, method, path string, body []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req, apiKey)
}

// DoWith is Do without a body and with extra headers (name, value pairs;
// an empty value is not sent).
func (c *Client) DoWith(ctx context.Context, apiKey, method, path string, body []byte, headers ...string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return c.do(req, apiKey)
}

func (c *Client) do(req *http.Request, apiKey string) (Response, error) {
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("read response: %w", err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	out := Response{Status: resp.StatusCode, ContentType: mt, Body: body}
	if mt == "application/json" {
		var v struct{ ID, State string }
		if json.Unmarshal(body, &v) == nil {
			out.ID, out.State = v.ID, v.State
		}
	}
	return out, nil
}
