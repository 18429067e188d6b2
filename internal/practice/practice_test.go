package practice

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCSVValid(t *testing.T) {
	t.Parallel()
	in := "ods_code,name,asid,endpoint,extra,webhook_url,rate_limit_per_minute\n" +
		"a20047,Dr Legg's Surgery,918999198993,https://p.example/A20047/STU3/1/gpconnect,x,https://hooks.example/a,60\n" +
		"\n" +
		"B81016,\"Hub, Central\",918999198994,http://127.0.0.1:9000/B81016/STU3/1/gpconnect,,,\n"
	got, err := ParseCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A20047", "B81016"}
	var codes []string
	for _, p := range got {
		codes = append(codes, p.ODSCode)
	}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Fatalf("codes (-want +got):\n%s", diff)
	}
	if got[1].Name != "Hub, Central" || got[0].WebhookURL == "" || got[0].RateLimitPerMinute == nil || *got[0].RateLimitPerMinute != 60 ||
		got[1].RateLimitPerMinute != nil {
		t.Errorf("fields not parsed: %+v", got)
	}
}

func TestParseCSVReportsEveryBadLine(t *testing.T) {
	t.Parallel()
	in := "ods_code,name,asid,endpoint\n" +
		"A20047,Ok,918999198993,https://p.example/A20047/STU3/1/gpconnect\n" +
		"bad code!,X,918999198993,https://p.example/x\n" +
		"B81016,,12ab,ftp://p.example/x\n" +
		"C11111,Y,,https://p.example/C/\n" +
		"A20047,Dup,918999198996,https://p.example/A\n" +
		"D22222,Z,918999198997,/relative/path\n"
	_, err := ParseCSV(strings.NewReader(in))
	var ie *ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("want ImportError, got %v", err)
	}
	type key struct {
		Line   int
		Column string
	}
	var got []key
	for _, l := range ie.Lines {
		got = append(got, key{l.Line, l.Column})
	}
	want := []key{{3, "ods_code"}, {4, "name"}, {4, "asid"}, {4, "endpoint"}, {5, "asid"}, {6, "ods_code"}, {7, "endpoint"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("line errors (-want +got):\n%s\n%v", diff, err)
	}
}

func TestParseCSVHeaderProblems(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"empty":          "",
		"missing column": "ods_code,endpoint\nA20047,https://a.example/x\n",
		"half override":  "ods_code,name,endpoint\nA20047,x,https://a.example/x\n",
		"no rows":        "ods_code,name,asid,endpoint\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseCSV(strings.NewReader(in))
			var ie *ImportError
			if !errors.As(err, &ie) || len(ie.Lines) == 0 {
				t.Fatalf("want ImportError, got %v", err)
			}
		})
	}
}

// TestParseCSVODSOnly: a federation knows its practices by ODS code; SDS
// supplies endpoints, so ods_code,name is a complete file, and an override
// may be given for some practices only.
func TestParseCSVODSOnly(t *testing.T) {
	t.Parallel()
	in := "ods_code,name\nA20047,Dr Legg's Surgery\nb81016,Hub\n"
	got, err := ParseCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Practice{{ODSCode: "A20047", Name: "Dr Legg's Surgery", Active: true}, {ODSCode: "B81016", Name: "Hub", Active: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("practices (-want +got):\n%s", diff)
	}
	mixed := "ods_code,name,asid,endpoint\nA20047,A,,\nB81016,B,918999198994,https://test.example/B81016/STU3/1/gpconnect/\n"
	got, err = ParseCSV(strings.NewReader(mixed))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].HasOverride() || !got[1].HasOverride() || got[1].Endpoint != "https://test.example/B81016/STU3/1/gpconnect/" {
		t.Errorf("overrides: %+v", got)
	}
}
