package uploadstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
)

// TestFSStoreSharesTusdFormat checks that an upload area is interchangeable
// between tusd's filestore and ours: each reads what the other wrote.
func TestFSStoreSharesTusdFormat(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	tusd := filestore.New(dir)
	be, err := newFSBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	ours := be.store
	meta := map[string]string{"filename": "a.png", "filetype": "image/png"}

	up, err := tusd.NewUpload(ctx, handler.FileInfo{ID: newObjectID(), SizeIsDeferred: true, MetaData: meta})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := up.GetInfo(ctx)
	if _, err := up.WriteChunk(ctx, 0, bytes.NewReader([]byte("12345"))); err != nil {
		t.Fatal(err)
	}
	mine, err := ours.GetUpload(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := mine.GetInfo(ctx)
	if got.ID != want.ID || got.Offset != 5 || !got.SizeIsDeferred || got.MetaData["filename"] != "a.png" ||
		got.Storage[filestore.StorageKeyPath] != want.Storage[filestore.StorageKeyPath] {
		t.Fatalf("ours read %+v, tusd wrote %+v", got, want)
	}
	if n, err := mine.WriteChunk(ctx, 5, bytes.NewReader([]byte("6789"))); err != nil || n != 4 {
		t.Fatalf("write: %d, %v", n, err)
	}
	if err := ours.AsLengthDeclarableUpload(mine).DeclareLength(ctx, 9); err != nil {
		t.Fatal(err)
	}

	back, err := tusd.GetUpload(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	bi, _ := back.GetInfo(ctx)
	if bi.Offset != 9 || bi.Size != 9 || bi.SizeIsDeferred || bi.MetaData["filetype"] != "image/png" {
		t.Fatalf("tusd read back %+v", bi)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, want.ID)); string(b) != "123456789" {
		t.Fatalf("data %q", b)
	}

	// And the other way round: ours creates, tusd reads; ours terminates.
	up2, err := ours.NewUpload(ctx, handler.FileInfo{ID: newObjectID(), Size: 3, MetaData: meta})
	if err != nil {
		t.Fatal(err)
	}
	i2, _ := up2.GetInfo(ctx)
	if t2, err := tusd.GetUpload(ctx, i2.ID); err != nil {
		t.Fatal(err)
	} else if ti, _ := t2.GetInfo(ctx); ti.Size != 3 || ti.Offset != 0 || ti.Storage["Type"] != "filestore" {
		t.Fatalf("tusd read %+v", ti)
	}
	// What fsStore remembers of an upload never outlives its files, even
	// when they are removed behind its back.
	up3, err := ours.NewUpload(ctx, handler.FileInfo{ID: newObjectID(), Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	i3, _ := up3.GetInfo(ctx)
	if err := os.Remove(filepath.Join(dir, i3.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := ours.GetUpload(ctx, i3.ID); !errors.Is(err, handler.ErrNotFound) {
		t.Fatalf("after its data was removed: %v, want ErrNotFound", err)
	}
	if err := ours.AsTerminatableUpload(up2).Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ours.GetUpload(ctx, i2.ID); !errors.Is(err, handler.ErrNotFound) {
		t.Fatalf("after Terminate: %v, want ErrNotFound", err)
	}
}
