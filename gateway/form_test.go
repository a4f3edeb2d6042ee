package gateway

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// TestParseFormMatchesParseForm compares parseForm with req.ParseForm on
// the same requests.
func TestParseFormMatchesParseForm(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name, method, target, ctype, body string
	}{
		{"plain", "POST", "/sms", form, "Body=JOIN&From=%2B12125550123&To=%2B12025550100"},
		{"repeated key", "POST", "/sms", form, "a=1&a=2&b="},
		{"bad escape", "POST", "/sms", form, "Body=%zz&From=x"},
		{"semicolon", "POST", "/sms", form, "a=1;b=2"},
		{"empty", "POST", "/sms", form, ""},
		{"query string", "POST", "/sms?x=1", form, "Body=JOIN"},
		{"bad query string", "POST", "/sms?x=%zz", form, "Body=JOIN"},
		{"content type with charset", "POST", "/sms", form + "; charset=utf-8", "Body=JOIN"},
		{"json", "POST", "/sms", "application/json", `{"Body":"JOIN"}`},
		{"no content type", "POST", "/sms", "", "Body=JOIN"},
		{"PUT", "PUT", "/sms", form, "Body=JOIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newReq := func() *http.Request {
				r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
				if tt.ctype != "" {
					r.Header.Set("Content-Type", tt.ctype)
				}
				return r
			}
			want, got := newReq(), newReq()
			wantErr := want.ParseForm()
			gotErr := parsePostForm(got)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("parseForm error %v; ParseForm error %v", gotErr, wantErr)
			}
			if !reflect.DeepEqual(got.PostForm, want.PostForm) {
				t.Fatalf("parseForm PostForm = %v; ParseForm gives %v", got.PostForm, want.PostForm)
			}
		})
	}
}
