package exitcode

import (
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	cfg := Configf("OFFSITE_MODE", "%q is not copy, sync or auto", "x")
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"plain", errors.New("bucket a: timeout"), Failed},
		{"config", fmt.Errorf("wrapped: %w", cfg), Config},
		{"verify", fmt.Errorf("%w: 2 missing", ErrVerifyFailed), Verify},
		{"safety", fmt.Errorf("%w: cap", ErrSafetyStop), Safety},
		{"config outranks the rest", errors.Join(ErrSafetyStop, ErrVerifyFailed, cfg), Config},
		{"verify outranks safety", errors.Join(ErrSafetyStop, ErrVerifyFailed), Verify},
		{"verify outranks failed", errors.Join(errors.New("bucket b: context canceled"), fmt.Errorf("%w: 1 missing", ErrVerifyFailed)), Verify},
		{"safety stops only", errors.Join(fmt.Errorf("bucket a: %w", ErrSafetyStop), fmt.Errorf("bucket b: %w: cap", ErrSafetyStop)), Safety},
		{"failed outranks safety", errors.Join(errors.New("bucket a: timeout"), fmt.Errorf("bucket b: %w", ErrSafetyStop)), Failed},
		{"failed outranks safety, nested", fmt.Errorf("run: %w", errors.Join(fmt.Errorf("bucket b: %w", ErrSafetyStop), errors.Join(nil, errors.New("write report: refused")))), Failed},
		{"failed outranks safety, in one error", fmt.Errorf("bucket a: %w; bucket b: %w", errors.New("timeout"), ErrSafetyStop), Failed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.err); got != tt.want {
				t.Fatalf("Of(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
	if got, want := cfg.Error(), `OFFSITE_MODE: "x" is not copy, sync or auto`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
