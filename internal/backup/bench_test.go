package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkCreateSmallFiles compares the two ways of making a backup
// durable on 5,000 small files: fsync of every file and folder, or one
// syncfs(2) of the backup filesystem at the end.
//
//	go test -run - -bench CreateSmallFiles -benchtime 5x ./internal/backup/
func BenchmarkCreateSmallFiles(b *testing.B) {
	src := b.TempDir()
	for d := 0; d < 50; d++ {
		dir := filepath.Join(src, fmt.Sprint("d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < 100; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("f", f)), []byte(strings.Repeat("x", 2048)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, mode := range []struct {
		name     string
		syncEach bool
	}{{"fsync-each", true}, {"syncfs", false}} {
		b.Run(mode.name, func(b *testing.B) {
			old := syncEachFile
			syncEachFile = mode.syncEach
			defer func() { syncEachFile = old }()
			root := b.TempDir()
			for i := 0; i < b.N; i++ {
				bk, err := Create(context.Background(), src, root, fmt.Sprint("b", i))
				if err != nil {
					b.Fatal(err)
				}
				if bk.Files != 5000 {
					b.Fatalf("Files = %d", bk.Files)
				}
			}
		})
	}
}
