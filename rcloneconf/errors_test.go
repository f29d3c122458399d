package rcloneconf

import "testing"

// No error is not a missing bucket (mirror asks after every listing).
func TestIsNotFoundOfNoError(t *testing.T) {
	if IsNotFound(nil) {
		t.Fatal("IsNotFound(nil) = true")
	}
}
