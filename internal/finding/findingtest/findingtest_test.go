package findingtest

import "testing"

func TestHoldsAllowsExtraMapKeysOnly(t *testing.T) {
	got := map[string]any{"a": "x", "b": []any{map[string]any{"c": 1, "d": 2}}, "extra": true}
	tests := []struct {
		want any
		ok   bool
	}{
		{map[string]any{"a": "x"}, true},
		{map[string]any{"b": []any{map[string]any{"c": 1}}}, true},
		{map[string]any{"a": "y"}, false},
		{map[string]any{"missing": 1}, false},
		{map[string]any{"b": []any{}}, false},
	}
	for _, tt := range tests {
		if Holds(got, tt.want) != tt.ok {
			t.Errorf("Holds(got, %v) = %v, want %v", tt.want, !tt.ok, tt.ok)
		}
	}
}
