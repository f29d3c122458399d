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
