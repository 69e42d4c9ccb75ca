package finding

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

type codedErr struct{ code string }

func (e codedErr) Error() string     { return "api error " + e.code }
func (e codedErr) ErrorCode() string { return e.code }

func TestClassifyNamesTheReason(t *testing.T) {
	codes := map[string]Reason{"AccessDenied": AccessDenied, "Throttling": Throttled}
	tests := []struct {
		name string
		err  error
		code string
		want Reason
	}{
		{"nil", nil, "", ""},
		{"deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), "", TimedOut},
		{"deadline wins over a code", fmt.Errorf("x: %w", context.DeadlineExceeded), "AccessDenied", TimedOut},
		{"the error's own code", fmt.Errorf("list: %w", codedErr{"Throttling"}), "", Throttled},
		{"unknown code", codedErr{"Weird"}, "", APIError},
		{"plain error", errors.New("boom"), "", APIError},
		{"explicit code", errors.New("403"), "AccessDenied", AccessDenied},
		{"explicit code beats the error's own", codedErr{"Throttling"}, "AccessDenied", AccessDenied},
		{"unknown explicit code", errors.New("x"), "Nope", APIError},
	}
	for _, tt := range tests {
		if got := ClassifyCode(tt.err, tt.code, codes); got != tt.want {
			t.Errorf("%s: ClassifyCode = %q, want %q", tt.name, got, tt.want)
		}
		if tt.code == "" {
			if got := Classify(tt.err, codes); got != tt.want {
				t.Errorf("%s: Classify = %q, want %q", tt.name, got, tt.want)
			}
		}
	}
}

func TestStatusOf(t *testing.T) {
	if StatusOf(true) != Pass || StatusOf(false) != Fail {
		t.Errorf("StatusOf(true)=%s StatusOf(false)=%s", StatusOf(true), StatusOf(false))
	}
}
