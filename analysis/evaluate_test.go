package analysis

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func TestEvaluateCondition(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name      string
		condition string
		result    any
		want      bool
		wantErr   string
	}{
		{"vector below threshold", "result[0] < 0.05", []float64{0.01}, true, ""},
		{"vector above threshold", "result[0] < 0.05", []float64{0.5}, false, ""},
		{"scalar", "result >= 0.95", 0.97, true, ""},
		{"all of a range", "all(result, # < 1000)", []float64{10, 999}, true, ""},
		{"len of empty", "len(result) == 0", []float64{}, true, ""},
		{"index of empty vector is an error", "result[0] < 0.05", []float64{}, false, "index out of range"},
		{"NaN compares false", "result[0] < 0.05", []float64{nan}, false, ""},
		{"isNaN", "isNaN(result[0])", []float64{nan}, true, ""},
		{"isNaN on a number", "isNaN(result)", 1.0, false, ""},
		{"isInf", "isInf(result)", inf, true, ""},
		{"isNil on nil", "isNil(result)", nil, true, ""},
		{"isNil on a value", "isNil(result)", 3.0, false, ""},
		{"default replaces nil", "default(result, 0) == 0", nil, true, ""},
		{"default keeps a value", "default(result, 0) == 2", 2.0, true, ""},
		{"asInt of a string", `asInt(result) == 3`, "3", true, ""},
		{"asInt of a float", `asInt(result) == 3`, 3.7, true, ""},
		{"asFloat of a string", `asFloat(result) > 0.5`, "0.75", true, ""},
		{"asFloat of garbage", `asFloat(result) > 0.5`, "abc", false, `"abc" is not a number`},
		{"web string result", `result == "ok"`, "ok", true, ""},
		{"map result", `result.status == "green"`, map[string]any{"status": "green"}, true, ""},
		{"not a bool", "result[0]", []float64{1}, false, "bool"},
		{"syntax error", "result[0] <", []float64{1}, false, "compile"},
		{"unknown variable", "foo > 1", 1.0, false, "compile"},
		{"scalar indexed", "result[0] > 1", 2.0, false, "float64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvaluateCondition(tt.condition, tt.result)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EvaluateCondition(%q) error = %v, want one containing %q", tt.condition, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("EvaluateCondition(%q): %v", tt.condition, err)
			}
			if got != tt.want {
				t.Errorf("EvaluateCondition(%q, %v) = %v, want %v", tt.condition, tt.result, got, tt.want)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	const (
		ok   = v1alpha1.AnalysisPhaseSuccessful
		fail = v1alpha1.AnalysisPhaseFailed
		inc  = v1alpha1.AnalysisPhaseInconclusive
		errp = v1alpha1.AnalysisPhaseError
	)
	tests := []struct {
		name             string
		success, failure string
		result           any
		want             v1alpha1.AnalysisPhase
		wantNoData       bool
	}{
		{"no conditions", "", "", 1.0, ok, false},
		{"success holds", "result[0] < 0.05", "", []float64{0.01}, ok, false},
		{"success does not hold: failed", "result[0] < 0.05", "", []float64{0.5}, fail, false},
		{"failure holds", "", "result[0] > 0.1", []float64{0.5}, fail, false},
		{"failure does not hold: successful", "", "result[0] > 0.1", []float64{0.01}, ok, false},
		{"both, success", "result < 1", "result > 5", 0.5, ok, false},
		{"both, failure", "result < 1", "result > 5", 6.0, fail, false},
		{"both, neither: inconclusive", "result < 1", "result > 5", 3.0, inc, false},
		{"both hold: failure wins", "result > 0", "result > 0", 3.0, fail, false},
		{"empty vector: no data", "result[0] < 0.05", "", []float64{}, errp, true},
		{"nil result: no data", "result[0] < 0.05", "", nil, errp, true},
		{"empty vector handled by the condition", "len(result) == 0 || result[0] < 0.05", "", []float64{}, ok, false},
		{"NaN fails a success condition", "result[0] < 0.05", "", []float64{math.NaN()}, fail, false},
		{"NaN guarded", "isNaN(result[0]) || result[0] < 0.05", "", []float64{math.NaN()}, ok, false},
		{"bad failure condition", "result < 1", "result >", 0.5, errp, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := v1alpha1.Metric{Name: "m", SuccessCondition: tt.success, FailureCondition: tt.failure}
			got, err := Evaluate(m, tt.result)
			if got != tt.want {
				t.Fatalf("Evaluate = %s (err %v), want %s", got, err, tt.want)
			}
			if (got == errp) != (err != nil) {
				t.Fatalf("Evaluate = %s with error %v: an error must come with the Error phase", got, err)
			}
			if tt.wantNoData != errors.Is(err, ErrNoData) {
				t.Fatalf("Evaluate error = %v, want ErrNoData: %v", err, tt.wantNoData)
			}
		})
	}
}

func TestNewMeasurementNamesEmptyResult(t *testing.T) {
	m := NewMeasurement(v1alpha1.Metric{Name: "m", SuccessCondition: "result[0] < 0.05"}, timeZero, []float64{}, "[]")
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.HasPrefix(m.Message, "query returned no data") {
		t.Fatalf("measurement = %s %q, want Error starting with %q", m.Phase, m.Message, "query returned no data")
	}
	if m.Value != "[]" || m.StartedAt == nil || m.FinishedAt == nil {
		t.Fatalf("measurement = %+v, want value [] and both times", m)
	}
}

func TestDescribeError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New(`Post "http://127.0.0.1:1/api/v1/query": dial tcp 127.0.0.1:1: connect: connection refused`), "connection refused: Post"},
		{errors.New("context deadline exceeded"), "timeout: context deadline exceeded"},
		{errors.New("timeout after 1s: boom"), "timeout after 1s: boom"},
		{errors.New("bad_data: parse error"), "bad_data: parse error"},
	}
	for _, tt := range tests {
		if got := DescribeError(tt.err); !strings.HasPrefix(got, tt.want) {
			t.Errorf("DescribeError(%q) = %q, want prefix %q", tt.err, got, tt.want)
		}
	}
}

func TestAsIntAndAsFloat(t *testing.T) {
	if n, err := AsInt(" 42 "); err != nil || n != 42 {
		t.Errorf("AsInt(\" 42 \") = %d, %v", n, err)
	}
	if _, err := AsInt(math.NaN()); err == nil {
		t.Errorf("AsInt(NaN) succeeded")
	}
	if _, err := AsFloat(true); err == nil {
		t.Errorf("AsFloat(true) succeeded")
	}
	if f, err := AsFloat(int32(3)); err != nil || f != 3 {
		t.Errorf("AsFloat(int32(3)) = %v, %v", f, err)
	}
}

// FuzzEvaluateCondition checks that no condition and no result make evaluation panic, and that
// an error always comes with the Error phase.
func FuzzEvaluateCondition(f *testing.F) {
	for _, s := range []string{
		"result[0] < 0.05", "result[0]", "isNaN(result[0])", "default(result, 1) > 0", "asInt(result) == 1",
		"all(result, # < 1)", "result[-1] > 0", "result[99999999999] == 1", "len(result) / 0 == 1", "asFloat(result)",
		"1/0 > 1", "result.a.b.c", "{", "result matches '('", "isInf(result)", "now() > result",
	} {
		f.Add(s, 0.01, 0)
		f.Add(s, math.NaN(), 1)
		f.Add(s, math.Inf(-1), 2)
	}
	f.Fuzz(func(t *testing.T, condition string, v float64, shape int) {
		results := []any{[]float64{v}, v, []float64{}, nil, "x", map[string]any{"a": v}, []any{v, "s"}}
		result := results[((shape%len(results))+len(results))%len(results)]
		ok, err := EvaluateCondition(condition, result)
		if err != nil && ok {
			t.Fatalf("EvaluateCondition(%q) = true with error %v", condition, err)
		}
		phase, err := Evaluate(v1alpha1.Metric{Name: "m", SuccessCondition: condition}, result)
		if (phase == v1alpha1.AnalysisPhaseError) != (err != nil) {
			t.Fatalf("Evaluate(%q) = %s with error %v", condition, phase, err)
		}
	})
}
