package mirror

import (
	"context"
	"fmt"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"
	"github.com/rclone/rclone/fs/operations"
)

// verdict is how the two sides of a pair compared.
type verdict int

const (
	differs  verdict = iota
	sameHash         // same size and MD5
	sameSize         // same size; one side has no MD5 (a multipart upload)
)

// compareObjects is the one rule of equality, for the mirror, the restore
// and verify alike: sizes first, then MD5s where both sides have one. why
// says how a pair differs, for the log.
func compareObjects(ctx context.Context, src, dst fs.Object) (v verdict, why string, err error) {
	if src.Size() != dst.Size() {
		return differs, fmt.Sprintf("size %d at the source, %d at the destination", src.Size(), dst.Size()), nil
	}
	same, ht, err := operations.CheckHashes(ctx, src, dst)
	switch {
	case err != nil:
		return differs, "", err
	case ht == hash.None:
		return sameSize, "", nil
	case !same:
		return differs, ht.String() + " differs", nil
	}
	return sameHash, "", nil
}
